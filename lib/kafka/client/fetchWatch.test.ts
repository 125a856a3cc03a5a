/**
 * The partition reader's fetch watchdog (FetchWatch, pure): for any
 * sequence of fetch starts and ends per broker, group joins and time, it
 * calls the reader stalled exactly when some broker's fetch has waited the
 * bound with no fetch of any broker returning meanwhile, and names the
 * broker that waited longest.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FetchWatch } from './kafkajsReader.js'

const STALL = 1000

const eventArb = fc.oneof(
  fc.record({ kind: fc.constant('start' as const), node: fc.integer({ min: 1, max: 3 }), after: fc.nat(700) }),
  fc.record({ kind: fc.constant('end' as const), node: fc.integer({ min: 1, max: 3 }), after: fc.nat(700) }),
  fc.record({ kind: fc.constant('join' as const), after: fc.nat(700) }),
)

describe('FetchWatch', () => {
  it('is stalled exactly when a fetch waited the bound and none returned meanwhile', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 40 }), fc.nat(3000), (events, tail) => {
        let now = 0
        const watch = new FetchWatch(STALL, now)
        // what happened, kept plainly: the pending start per broker, the last end or join
        const pending = new Map<number, number>()
        let lastEnd = 0
        for (const e of events) {
          now += e.after
          if (e.kind === 'start') {
            watch.started(e.node, now)
            pending.set(e.node, now)
          } else if (e.kind === 'end') {
            watch.ended(e.node, now)
            pending.delete(e.node)
            lastEnd = now
          } else {
            watch.reset(now)
            pending.clear()
            lastEnd = now
          }
          now += tail % 50
          const verdict = watch.stalled(now)
          const waited = [...pending].map(([node, since]) => ({ node, waited: now - since }))
          const longest = waited.reduce((m, w) => Math.max(m, w.waited), -1)
          if (now - lastEnd >= STALL && longest >= STALL) {
            expect(verdict?.waitedMs).toBe(longest)
            expect(pending.get(verdict?.nodeId ?? -1)).toBe(now - longest)
          } else {
            expect(verdict).toBeUndefined()
          }
        }
        now += tail
        const late = watch.stalled(now)
        if (late !== undefined) {
          expect(now - lastEnd).toBeGreaterThanOrEqual(STALL)
          expect(now - (pending.get(late.nodeId) as number)).toBe(late.waitedMs)
        }
      }),
    )
  })

  it('calls one fetch unanswered for the bound a stall, and one answered in time not', () => {
    const watch = new FetchWatch(STALL, 0)
    watch.started(2, 100)
    expect(watch.stalled(1099)).toBeUndefined()
    expect(watch.stalled(1100)).toEqual({ nodeId: 2, waitedMs: 1000 })
    watch.ended(2, 1200)
    watch.started(2, 1200)
    expect(watch.stalled(2199)).toBeUndefined()
  })

  it('does not count a broker left behind while the fetches of others return', () => {
    const watch = new FetchWatch(STALL, 0)
    watch.started(3, 0) // its fetch failed: kafkajs emits no end, and fetches it no more
    for (let t = 100; t <= 5000; t += 100) {
      watch.started(1, t)
      watch.ended(1, t + 10)
      expect(watch.stalled(t + 50)).toBeUndefined()
    }
  })
})
