import { describe, expect, it } from 'vitest'
import { unwrittenBatches } from './sendCoverage.js'

describe('unwrittenBatches', () => {
  const batches = [{ partition: 0 }, { partition: 1 }, { partition: 2 }]

  it('is empty when every partition was written', () => {
    expect(unwrittenBatches(batches, new Set([2, 0, 1]))).toEqual([])
  })

  it('returns the batches of the partitions not written, in order', () => {
    expect(unwrittenBatches(batches, new Set([0]))).toEqual([{ partition: 1 }, { partition: 2 }])
    expect(unwrittenBatches(batches, new Set())).toEqual(batches)
  })
})
