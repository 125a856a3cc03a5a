import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CutCadence } from './cutCadence.js'

describe('CutCadence', () => {
  it('keeps a fixed cadence from the previous cut, and cuts a full group at once', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 1 << 20 }),
        fc.array(fc.record({ advance: fc.nat(20_000), cuttable: fc.nat(2 << 20), cut: fc.boolean() }), {
          maxLength: 50,
        }),
        (intervalMs, maxBytes, steps) => {
          const cadence = new CutCadence(intervalMs, maxBytes)
          let now = 0
          let lastCut = 0
          for (const step of steps) {
            now += step.advance
            const wait = cadence.waitMs(now, () => step.cuttable)
            const due = lastCut + intervalMs - now
            if (step.cuttable >= maxBytes || due <= 0) expect(wait).toBe(0)
            else expect(wait).toBe(due)
            expect(wait).toBeLessThanOrEqual(intervalMs)
            if (step.cut) {
              cadence.cutAt(now)
              lastCut = now
            }
          }
        },
      ),
    )
  })

  it('asks for the cuttable bytes only while the interval runs', () => {
    const cadence = new CutCadence(100, 10)
    let asked = 0
    expect(cadence.waitMs(500, () => ++asked)).toBe(0)
    expect(asked).toBe(0)
    cadence.cutAt(500)
    expect(cadence.waitMs(550, () => ++asked)).toBe(50)
    expect(asked).toBe(1)
  })
})
