import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { publishStep } from './appliedPublisher.js'

describe('publishStep', () => {
  it('sends at most once per interval while running, and only before the deadline while flushing (property)', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.option(fc.nat({ max: 10_000 }), { nil: undefined }),
        fc.nat({ max: 10_000 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.nat({ max: 10_000 }),
        (noted, flushDeadline, lastSentAt, intervalMs, now) => {
          const step = publishStep({ noted, flushDeadline, lastSentAt, intervalMs, now })
          if (flushDeadline !== undefined) {
            // a flush ends when nothing is left or the bound is reached; it does not wait for the interval
            expect(step).toEqual(noted && now < flushDeadline ? { do: 'send' } : { do: 'end' })
          } else if (!noted) {
            expect(step.do).toBe('nap')
          } else if (now - lastSentAt >= intervalMs) {
            expect(step).toEqual({ do: 'send' })
          } else {
            // naps exactly until the interval has passed
            expect(step).toEqual({ do: 'nap', ms: lastSentAt + intervalMs - now })
          }
          // running (not flushing) never ends by itself
          if (flushDeadline === undefined) expect(step.do).not.toBe('end')
        },
      ),
    )
  })
})
