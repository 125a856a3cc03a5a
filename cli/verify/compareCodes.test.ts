import { describe, expect, it } from 'vitest'
import { compareSegment, segmentReport } from './compareCodes.js'

describe('compareSegment', () => {
  const T = 100
  it('defers a segment the primary wrote after T, whatever the codes', () => {
    expect(compareSegment({ code: 'a', valid: false }, { code: 'b', lastWrite: 101 }, T)).toBe('written')
  })
  it('matches equal codes written at or before T, and finds differing data', () => {
    expect(compareSegment({ code: 'a', valid: false }, { code: 'a', lastWrite: 100 }, T)).toBe('match')
    expect(compareSegment({ code: 'a', valid: true, stored: 'a' }, { code: 'a', lastWrite: 0 }, T)).toBe('match')
    expect(compareSegment({ code: 'a', valid: false }, { code: 'b', lastWrite: 5 }, T)).toEqual({ mismatch: 'data' })
  })
  it('finds a stored code marked valid that is not the code of the blocks', () => {
    expect(compareSegment({ code: 'a', valid: true, stored: 'x' }, { code: 'a', lastWrite: 5 }, T)).toEqual({
      mismatch: 'storedCode',
    })
  })
})

describe('segmentReport', () => {
  it('names the block range, a short last segment clipped to the volume', () => {
    expect(segmentReport({ name: 'v', blocks: 600 }, 2, 256, 'data')).toEqual({
      volume: 'v',
      segment: 2,
      firstBlock: 512,
      lastBlock: 599,
      reason: 'data',
    })
  })
})
