import { describe, expect, it } from 'vitest'
import type { ConsistencyGroup, JournalUpdate } from '../../schemas/journal.js'
import { validateGroup, type StoreLayout } from './groupValidation.js'

const layout: StoreLayout = {
  session: 's1',
  blockSize: 512,
  volumes: new Map([
    ['a', { id: 1, name: 'a', blocks: 10 }],
    ['b', { id: 2, name: 'b', blocks: 4 }],
  ]),
}

function u(volume: string, block: number, size = 512): JournalUpdate {
  return { controller: 0, seq: 1, time: 1, volume, block, data: Buffer.alloc(size, block) }
}

function group(updates: JournalUpdate[], extra: Partial<ConsistencyGroup> = {}): ConsistencyGroup {
  return { session: 's1', groupSeq: 3, groupTime: 99, updates, controllers: [], ...extra }
}

describe('validateGroup', () => {
  it('maps updates to store rows in journal order', () => {
    expect(validateGroup(group([u('b', 3), u('a', 0), u('b', 0)]), layout).map((r) => [r.volumeId, r.block])).toEqual([
      [2, 3],
      [1, 0],
      [2, 0],
    ])
    expect(validateGroup(group([]), layout)).toEqual([])
  })

  it.each([
    ['an unknown volume', group([u('a', 1), u('zz', 0)]), /unknown volume "zz"/],
    ['a block past the end', group([u('b', 4)]), /block 4 of volume "b", which has blocks 0..3/],
    ['a negative block', group([u('a', -1)]), /block -1/],
    ['a short block', group([u('a', 1, 511)]), /511 bytes, not one block of 512/],
    ['a long block', group([u('a', 1, 1024)]), /1024 bytes/],
    ['a block written twice', group([u('a', 2), u('a', 2)]), /written twice/],
    ['another session', group([], { session: 's2' }), /session "s2"/],
    ['a zero group sequence', group([], { groupSeq: 0 }), /sequence must be a positive integer/],
  ])('refuses %s with XRC_INVALID_RECORD', (_name, g, message) => {
    expect(() => validateGroup(g, layout)).toThrow(message)
    try {
      validateGroup(g, layout)
    } catch (err) {
      expect(err).toMatchObject({ code: 'XRC_INVALID_RECORD', context: { session: 's1', groupSeq: g.groupSeq } })
    }
  })
})
