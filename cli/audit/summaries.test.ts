import { describe, expect, it } from 'vitest'
import { summarizeGroup, summarizeRecordSet, summarizeUpdates } from './summaries.js'

const u = (volume: string, block: number, fill: number, seq = 1) => ({
  seq,
  time: 100 + seq,
  volume,
  block,
  data: Buffer.alloc(4096, fill),
})

describe('audit summaries', () => {
  it('counts updates, bytes and block ranges per volume, and digests the data', () => {
    const s = summarizeUpdates([u('a', 5, 1), u('a', 2, 2), u('b', 9, 3)])
    expect(s).toMatchObject({
      updates: 3,
      bytes: 3 * 4096,
      volumes: { a: { updates: 2, firstBlock: 2, lastBlock: 5 }, b: { updates: 1, firstBlock: 9, lastBlock: 9 } },
    })
    expect(s.sha256).toMatch(/^[0-9a-f]{16}$/)
    expect(summarizeUpdates([u('a', 5, 1)]).sha256).not.toBe(summarizeUpdates([u('a', 5, 2)]).sha256)
    expect(s.list).toBeUndefined()
  })

  it('never carries the payload itself', () => {
    const line = JSON.stringify(
      summarizeRecordSet({ session: 's', controller: 0, kind: 'UPDATES', updates: [u('a', 0, 7)] }, true),
    )
    expect(line).not.toContain('"data"')
    expect(line.length).toBeLessThan(600)
  })

  it('keeps the group header and controller marks', () => {
    const g = summarizeGroup(
      {
        session: 's',
        groupSeq: 3,
        groupTime: 99,
        updates: [u('a', 1, 1)],
        controllers: [{ controller: 0, lastSeq: 1 }],
      },
      2,
      false,
    )
    expect(g).toMatchObject({
      groupSeq: 3,
      groupTime: 99,
      parts: 2,
      updates: 1,
      controllers: [{ controller: 0, lastSeq: 1 }],
    })
  })
})
