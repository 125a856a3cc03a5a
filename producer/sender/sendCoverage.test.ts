import { describe, expect, it } from 'vitest'
import { unwrittenBatches } from './sendCoverage.js'

describe('unwrittenBatches', () => {
  const batches = [{ partition: 0 }, { partition: 1 }, { partition: 2 }]
  const ok = (partition: number, topicName = 't') => ({ topicName, partition, errorCode: 0 })

  it('is empty when the answer shows every partition written', () => {
    expect(unwrittenBatches('t', batches, [ok(2), ok(0), ok(1)])).toEqual([])
  })

  it('returns the partitions a retry skipped (no answer for them), an error code, or another topic', () => {
    expect(unwrittenBatches('t', batches, [ok(0)])).toEqual([{ partition: 1 }, { partition: 2 }])
    expect(unwrittenBatches('t', batches, [ok(0), { ...ok(1), errorCode: 6 }, ok(2, 'u')])).toEqual([
      { partition: 1 },
      { partition: 2 },
    ])
  })
})
