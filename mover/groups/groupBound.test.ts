import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { boundGroup, type SizedUpdate } from './groupBound.js'

const writeArb = fc.record({
  controller: fc.nat(3),
  time: fc.integer({ min: 1, max: 40 }),
  bytes: fc.integer({ min: 1, max: 9 }),
})

const sized = (w: { controller: number; time: number; bytes: number }, seq: number): SizedUpdate => ({
  controller: w.controller,
  bytes: w.bytes,
  update: { seq, time: w.time, volume: 'v', block: 0, data: Buffer.alloc(w.bytes) },
})

describe('boundGroup', () => {
  it('cuts at an earlier T′ holding every write up to it, over the bound only by the writes at T′', () => {
    fc.assert(
      fc.property(fc.array(writeArb, { maxLength: 40 }), fc.option(fc.integer({ min: 1, max: 60 })), (ws, maxBytes) => {
        const t = 40
        const all = ws.map(sized)
        const { time, taken } = boundGroup([...all], t, maxBytes ?? undefined)
        const total = all.reduce((n, x) => n + x.bytes, 0)
        // a consistency group: every write with time <= its time, none later
        expect(time).toBeLessThanOrEqual(t)
        expect(new Set(taken)).toEqual(new Set(all.filter((x) => x.update.time <= time)))
        if (maxBytes === null || total <= maxBytes) {
          expect(time).toBe(t)
          expect(taken).toHaveLength(all.length)
          return
        }
        // never empty when there is something to take, and over the bound only by the writes sharing T′
        expect(taken.length).toBeGreaterThan(0)
        const before = taken.filter((x) => x.update.time < time).reduce((n, x) => n + x.bytes, 0)
        expect(before).toBeLessThanOrEqual(maxBytes)
        // and as late as the bound allows: the next time would not fit
        const later = all.filter((x) => x.update.time > time)
        if (later.length > 0) {
          const next = Math.min(...later.map((x) => x.update.time))
          const upToNext = all.filter((x) => x.update.time <= next).reduce((n, x) => n + x.bytes, 0)
          expect(upToNext).toBeGreaterThan(maxBytes)
        }
      }),
      { numRuns: 1000 },
    )
  })
})
