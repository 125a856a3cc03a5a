import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { StallWatch, rpoNowMs, stallReason } from './stallWatch.js'

type Event =
  { kind: 'observe'; lag: number | undefined; delayHolding: boolean; dt: number } | { kind: 'applied'; dt: number }

const eventArb: fc.Arbitrary<Event> = fc.oneof(
  fc.record({
    kind: fc.constant('observe' as const),
    lag: fc.option(fc.nat(5), { nil: undefined }),
    delayHolding: fc.boolean(),
    dt: fc.nat(3000),
  }),
  fc.record({ kind: fc.constant('applied' as const), dt: fc.nat(3000) }),
)

describe('StallWatch', () => {
  it('is stalled exactly when groups wait and nothing progressed for stallAfterMs', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.array(eventArb, { maxLength: 60 }), (after, events) => {
        let now = 1_000_000
        const w = new StallWatch(after, now)
        let progressAt = now
        let lag: number | undefined
        for (const e of events) {
          now += e.dt
          if (e.kind === 'applied') {
            w.applied(now)
            progressAt = now
          } else {
            w.observe(e.lag, now, e.delayHolding)
            if (e.lag !== undefined) lag = e.lag
            if (e.lag === 0 || e.delayHolding) progressAt = now
          }
          const stalled = lag !== undefined && lag > 0 && now - progressAt >= after
          expect(w.stall(now)).toEqual(stalled ? { since: progressAt, lag } : undefined)
          if (stalled) expect(stallReason(w.stall(now)!, now)).toMatch(/^stalled: no group applied for \d+ s/)
        }
      }),
    )
  })

  it('a paused applier with lag turns stalled after the bound, and a group applied ends it', () => {
    const w = new StallWatch(5000, 0)
    w.observe(3, 1000)
    expect(w.stall(4999)).toBeUndefined()
    expect(w.stall(5000)).toEqual({ since: 0, lag: 3 })
    w.applied(6000)
    expect(w.stall(6000)).toBeUndefined()
  })
})

describe('rpoNowMs', () => {
  it('grows with the wall clock while groups wait; none when caught up or before a group', () => {
    fc.assert(
      fc.property(fc.nat(1e9), fc.nat(1e6), fc.nat(10), (t, dt, lag) => {
        const now = t / 1000 + dt
        const rpo = rpoNowMs(t, lag, now)
        if (lag === 0) expect(rpo).toBeUndefined()
        else expect(rpo).toBeCloseTo(dt, 6)
        expect(rpoNowMs(undefined, lag, now)).toBeUndefined()
      }),
    )
  })
})
