import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Backoff } from './backoff.js'

describe('Backoff', () => {
  it('doubles up to the cap, jitter within bounds, reset starts over', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 64 }),
        fc.constantFrom<'full' | 'equal'>('full', 'equal'),
        fc.array(fc.double({ min: 0, max: 0.999999, noNaN: true }), { minLength: 1, maxLength: 30 }),
        (initialMs, factor, jitter, randoms) => {
          const maxMs = initialMs * factor
          let i = 0
          const b = new Backoff({ initialMs, maxMs, jitter, random: () => randoms[i++ % randoms.length]! })
          let delay = initialMs
          for (let n = 0; n < randoms.length; n++) {
            const ms = b.next()
            const low = jitter === 'full' ? 0 : Math.floor(delay / 2)
            expect(ms).toBeGreaterThanOrEqual(low)
            expect(ms).toBeLessThanOrEqual(delay)
            delay = Math.min(delay * 2, maxMs)
          }
          expect(b.attempts).toBe(randoms.length)
          b.reset()
          expect(b.attempts).toBe(0)
          expect(b.next()).toBeLessThanOrEqual(initialMs)
        },
      ),
    )
  })

  it('refuses a cap below the first delay', () => {
    expect(() => new Backoff({ initialMs: 100, maxMs: 50 })).toThrow(/initialMs <= maxMs/)
  })

  it('wait() rejects when its signal aborts', async () => {
    const b = new Backoff({ initialMs: 60_000, maxMs: 60_000 })
    const abort = new AbortController()
    const waiting = b.wait(abort.signal)
    abort.abort(new Error('stopped'))
    await expect(waiting).rejects.toThrow('stopped')
  })
})
