import { expect, it } from 'vitest'
import { isInconsistentAt, type ResyncRow } from './resyncImage.js'

it('calls an image inconsistent exactly inside an unfinished resync window (S, E)', () => {
  const sent: ResyncRow = { state: 'sent', consistentUntil: 10, endTime: 20 }
  // S itself is consistent (the stream held everything up to it), E itself is consistent again
  expect([10, 11, 19, 20, 21].map((t) => isInconsistentAt([sent], t))).toEqual([false, true, true, false, false])
  // a window with no end yet stays open
  expect(isInconsistentAt([{ state: 'running', consistentUntil: 10, endTime: undefined }], 1e9)).toBe(true)
  // finished or rolled-back rows open no window (a rolled-back secondary is refused before this)
  expect(isInconsistentAt([{ ...sent, state: 'done' }], 15)).toBe(false)
  expect(isInconsistentAt([{ ...sent, state: 'rolled-back' }], 15)).toBe(false)
  // any controller's open window makes the image inconsistent
  expect(isInconsistentAt([sent, { state: 'running', consistentUntil: 30, endTime: undefined }], 25)).toBe(false)
  expect(isInconsistentAt([sent, { state: 'running', consistentUntil: 30, endTime: undefined }], 31)).toBe(true)
  expect(isInconsistentAt([], 5)).toBe(false)
})
