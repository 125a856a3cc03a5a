import { describe, expect, it } from 'vitest'
import { choosePartitions, planRange, startOffset } from './auditRange.js'

describe('audit range', () => {
  it('chooses the partitions asked for that exist, in order; all when none is named', () => {
    expect(choosePartitions([2, 0, 1], undefined)).toEqual([0, 1, 2])
    expect(choosePartitions([2, 0, 1], [2, 0, 7])).toEqual([0, 2])
    expect(choosePartitions([0, 1], [5])).toEqual([])
  })

  it('starts within what is retained, and at the end when no record is at or after the time', () => {
    const bounds = { low: 10, high: 20 }
    expect(startOffset(bounds, 15)).toBe(15)
    expect(startOffset(bounds, 3)).toBe(10)
    expect(startOffset(bounds, 99)).toBe(20)
    expect(startOffset(bounds, -1)).toBe(20)
  })

  it('starts by time before an offset, by an offset before the earliest retained, and ends at the end', () => {
    const offsets = new Map([
      [0, { low: 0, high: 100 }],
      [1, { low: 50, high: 60 }],
    ])
    expect(planRange(offsets, [0, 1], undefined, undefined)).toEqual({
      from: new Map([
        [0, 0],
        [1, 50],
      ]),
      to: new Map([
        [0, 100],
        [1, 60],
      ]),
    })
    expect(planRange(offsets, [0, 1], 55, undefined).from).toEqual(
      new Map([
        [0, 55],
        [1, 55],
      ]),
    )
    const byTime = new Map([
      [0, 70],
      [1, -1],
    ])
    expect(planRange(offsets, [0, 1], 55, byTime).from).toEqual(
      new Map([
        [0, 70],
        [1, 60],
      ]),
    )
    expect([...planRange(offsets, [1], undefined, undefined).from.keys()]).toEqual([1])
  })
})
