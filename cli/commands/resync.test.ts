import { describe, expect, it } from 'vitest'
import { copyingLine, resumedLine, resyncedLine, rolledBackLine, summary } from './resync.js'
import type { ResyncOutcome } from '../resync/primaryApi.js'

const outcome = (resync?: { blocksSent: number; bytesSent: number; staleCopies: number }): ResyncOutcome =>
  ({ url: 'http://p', mirror: { state: 'duplex', ...(resync ? { resync } : {}) } }) as unknown as ResyncOutcome

describe('resync command lines', () => {
  it('sums what every primary resynced (none for a primary that did not resync)', () => {
    const outcomes = [
      outcome({ blocksSent: 3, bytesSent: 300, staleCopies: 1 }),
      outcome(),
      outcome({ blocksSent: 4, bytesSent: 400, staleCopies: 0 }),
    ]
    expect(summary(outcomes, 1500)).toEqual({
      primaries: 3,
      blocksResynced: 7,
      bytesSent: 700,
      staleCopies: 1,
      ms: 1500,
    })
    expect(JSON.stringify(summary([], 0))).toBe(
      '{"primaries":0,"blocksResynced":0,"bytesSent":0,"staleCopies":0,"ms":0}',
    )
  })

  it('says what a resume and a resync did', () => {
    expect(resumedLine(summary([outcome({ blocksSent: 7, bytesSent: 1, staleCopies: 0 })], 1500))).toMatch(
      /^resync complete: 7 blocks in .+; the secondary is consistent again once it applies the groups after it$/,
    )
    expect(copyingLine({ blocks: 5, volumeBlocks: 200 })).toBe(
      'copying 5 blocks of 200 (2.5% of the volumes); start the mover and the applier',
    )
    expect(copyingLine({ blocks: 0, volumeBlocks: 0 })).toContain('(0.0% of the volumes)')
    expect(resyncedLine({ blocks: 5, volumeBlocks: 200 }, true)).toBe(
      'resync complete: 5 blocks of 200 copied, not whole volumes',
    )
    expect(resyncedLine({ blocks: 5, volumeBlocks: 200 }, false)).toMatch(/^resync started: /)
  })

  it('says where a rollback went: a group and its time, or an empty image', () => {
    expect(rolledBackLine({ groupSeq: 4, groupTime: 1234, blocksRestored: 9, groupsUndone: 2 })).toBe(
      'rolled back to group 4 (consistency time 1234): 9 blocks put back, 2 groups undone',
    )
    expect(rolledBackLine({ groupSeq: 0, groupTime: undefined, blocksRestored: 1, groupsUndone: 1 })).toBe(
      'rolled back to group 0 (an empty image): 1 blocks put back, 1 groups undone',
    )
  })
})
