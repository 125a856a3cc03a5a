import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CutCadence } from './cutCadence.js'

describe('CutCadence', () => {
  it('cuts a waiting write at the floor, a full group at once, and only time on the interval', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.nat(10_000),
        fc.integer({ min: 1, max: 1 << 20 }),
        fc.array(fc.record({ advance: fc.nat(20_000), cuttable: fc.nat(2 << 20), cut: fc.boolean() }), {
          maxLength: 50,
        }),
        (intervalMs, floorSeed, maxBytes, steps) => {
          const minIntervalMs = floorSeed % (intervalMs + 1)
          const cadence = new CutCadence(intervalMs, maxBytes, minIntervalMs)
          let now = 0
          let lastCut = 0
          for (const step of steps) {
            now += step.advance
            const wait = cadence.waitMs(now, (limit) => Math.min(limit, step.cuttable))
            const since = now - lastCut
            if (since >= intervalMs || step.cuttable >= maxBytes) expect(wait).toBe(0)
            else if (step.cuttable > 0) expect(wait).toBe(Math.max(0, minIntervalMs - since))
            else expect(wait).toBe(intervalMs - since)
            // never more than the interval after the last cut, never a write held past the floor
            expect(since + wait).toBeLessThanOrEqual(Math.max(since, intervalMs))
            if (step.cuttable > 0) expect(since + wait).toBeLessThanOrEqual(Math.max(since, minIntervalMs))
            if (step.cut) {
              cadence.cutAt(now)
              lastCut = now
            }
          }
        },
      ),
    )
  })

  it('asks for the cuttable bytes only while a wait is still possible, up to a full group', () => {
    const cadence = new CutCadence(100, 10, 5)
    const limits: number[] = []
    const ask = (limit: number): number => {
      limits.push(limit)
      return 0
    }
    expect(cadence.waitMs(500, ask)).toBe(0)
    expect(limits).toEqual([])
    cadence.cutAt(500)
    expect(cadence.waitMs(550, ask)).toBe(50)
    expect(limits).toEqual([10])
  })

  it('cuts right after the previous journal write when it took longer than the floor', () => {
    const cadence = new CutCadence(100, 1 << 20, 10)
    cadence.cutAt(1000)
    // the journal write took 25 ms and a write waits: no sleep at all
    expect(cadence.waitMs(1025, () => 4096)).toBe(0)
    // nothing waits: the group that only moves time comes on the interval
    expect(cadence.waitMs(1025, () => 0)).toBe(75)
  })
})
