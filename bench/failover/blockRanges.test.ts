import { describe, expect, it } from 'vitest'
import { segmentsToChange, splitRanges, writeRanges } from './blockRanges.js'

describe('splitRanges', () => {
  it('cuts each range into writes of at most blocksPerWrite, in order', () => {
    expect(
      splitRanges(
        [
          { volume: 'a', first: 0, count: 5 },
          { volume: 'b', first: 10, count: 2 },
        ],
        2,
      ),
    ).toEqual([
      { volume: 'a', first: 0, count: 2 },
      { volume: 'a', first: 2, count: 2 },
      { volume: 'a', first: 4, count: 1 },
      { volume: 'b', first: 10, count: 2 },
    ])
  })
})

describe('segmentsToChange', () => {
  const volumes = [
    { name: 'big', blocks: 1000 * 256 },
    { name: 'small', blocks: 100 * 256 + 10 },
  ]

  it('picks the fraction of all segments (rounded, at least one), distinct, one middle block each', () => {
    const picked = segmentsToChange(volumes, 256, 0.01)
    // 1000 + 101 segments: 1% is 11
    expect(picked).toHaveLength(11)
    const keys = picked.map((r) => `${r.volume}:${Math.floor(r.first / 256)}`)
    expect(new Set(keys).size).toBe(11)
    for (const r of picked) {
      expect(r.count).toBe(1)
      expect(r.first % 256).toBe(128)
    }
    // spread over both volumes, in proportion
    expect(picked.filter((r) => r.volume === 'small')).toHaveLength(1)
  })

  it('takes the middle of a short last segment, and at least one segment', () => {
    expect(segmentsToChange([{ name: 'v', blocks: 10 }], 256, 0.01)).toEqual([{ volume: 'v', first: 5, count: 1 }])
    expect(segmentsToChange(volumes, 256, 1)).toHaveLength(1101)
  })
})

describe('writeRanges', () => {
  it('writes every block once with distinct data, and reports the latest time', async () => {
    const seen: { first: number; count: number; head: number }[] = []
    let time = 0
    const r = await writeRanges(
      async (w, data) => {
        seen.push({ first: w.first, count: w.count, head: data.readUInt32LE(0) })
        expect(data.length).toBe(w.count * 16)
        return ++time
      },
      { ranges: [{ volume: 'v', first: 0, count: 7 }], blocksPerWrite: 3, concurrency: 2, blockSize: 16 },
    )
    expect(r).toMatchObject({ writes: 3, bytes: 7 * 16, lastTime: 3 })
    expect(seen.map((s) => s.first).sort((a, b) => a - b)).toEqual([0, 3, 6])
    expect(new Set(seen.map((s) => s.head)).size).toBe(3)
  })
})
