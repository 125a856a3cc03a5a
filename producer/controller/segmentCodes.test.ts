import { describe, expect, it } from 'vitest'
import { segmentCode } from '../../lib/segmentCodes.js'
import { SegmentWriteTimes, computeSegmentCodes } from './segmentCodes.js'

describe('SegmentWriteTimes', () => {
  it('notes the latest time per segment a write touches, the floor elsewhere', () => {
    const t = new SegmentWriteTimes([{ name: 'v', blocks: 10 }], 4, 5)
    t.wrote('v', 3, 2, 20) // blocks 3..4: segments 0 and 1
    t.wrote('v', 0, 1, 12) // an earlier time does not lower segment 0
    expect([0, 1, 2].map((s) => t.lastWrite('v', s))).toEqual([20, 20, 5])
    t.wrote('other', 0, 1, 99)
    expect(t.lastWrite('other', 0)).toBe(0)
  })
})

describe('computeSegmentCodes', () => {
  it('hashes each segment, a short last one included, clipped to the volume', async () => {
    const image = Buffer.alloc(10 * 2)
    for (let i = 0; i < image.length; i++) image[i] = i
    const times = new SegmentWriteTimes([{ name: 'v', blocks: 10 }], 4, 0)
    times.wrote('v', 9, 1, 7)
    const read = (block: number, count: number) => Promise.resolve(image.subarray(block * 2, (block + count) * 2))
    const codes = await computeSegmentCodes({ name: 'v', blocks: 10 }, times, read, { from: 1, count: 5 })
    expect(codes).toEqual([
      { segment: 1, code: segmentCode(image.subarray(8, 16)), lastWrite: 0 },
      { segment: 2, code: segmentCode(image.subarray(16, 20)), lastWrite: 7 },
    ])
  })
})
