import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ClockSkew } from './clockSkew.js'

const S = 1_000_000 // one second in microseconds

/**
 * A run of the mover's reads: every `stepUs` each controller (offset o_c from the mover's clock) gets a sample with
 * a delay in [0, maxDelay]; yields after each step.
 */
function* run(
  skew: ClockSkew,
  offsets: readonly number[],
  delays: () => number,
  steps: number,
  stepUs: number,
): Generator<number> {
  let now = 1_000 * S
  for (let i = 0; i < steps; i++) {
    now += stepUs
    offsets.forEach((o, c) => skew.sample(c, now + o - delays(), now))
    yield now
  }
}

const spread = (offsets: readonly number[]) => Math.max(...offsets) - Math.min(...offsets)

describe('ClockSkew', () => {
  it('estimates the skew within the largest delay of the truth, once every controller was heard', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -5 * S, max: 5 * S }), { minLength: 2, maxLength: 5 }),
        fc.integer({ min: 0, max: 300_000 }),
        fc.integer({ min: 1, max: 10_000 }),
        (offsets, maxDelay, seed) => {
          const skew = new ClockSkew({ maxSkewUs: S, windowUs: 2 * S, sustainUs: S })
          const rand = fc.sample(fc.integer({ min: 0, max: maxDelay }), { seed, numRuns: 400 })
          let k = 0
          for (const now of run(skew, offsets, () => rand[k++ % rand.length] as number, 60, 100_000)) {
            const r = skew.reading(now)
            expect(r).toBeDefined()
            const truth = spread(offsets)
            expect(r?.skewUs).toBeGreaterThanOrEqual(truth - maxDelay)
            expect(r?.skewUs).toBeLessThanOrEqual(truth + maxDelay)
            offsets.forEach((o, c) => {
              const est = r?.offsets.get(c) as number
              expect(est).toBeLessThanOrEqual(o)
              expect(est).toBeGreaterThanOrEqual(o - maxDelay)
            })
          }
        },
      ),
    )
  })

  it('never halts while the truth plus the largest delay is within the bound; halts after the sustain time when the truth less the delay is above it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -3 * S, max: 3 * S }), { minLength: 2, maxLength: 4 }),
        fc.integer({ min: 0, max: 200_000 }),
        fc.integer({ min: 100_000, max: 2 * S }),
        (offsets, maxDelay, maxSkewUs) => {
          const truth = spread(offsets)
          fc.pre(truth + maxDelay <= maxSkewUs || truth - maxDelay > maxSkewUs)
          const sustainUs = S
          const skew = new ClockSkew({ maxSkewUs, windowUs: 2 * S, sustainUs })
          let i = 0
          let first: number | undefined
          let haltedAt: number | undefined
          for (const now of run(skew, offsets, () => (i++ * 7919) % (maxDelay + 1), 50, 100_000)) {
            first ??= now
            const over = skew.check(now)
            if (over && haltedAt === undefined) haltedAt = now
          }
          if (truth + maxDelay <= maxSkewUs) expect(haltedAt).toBeUndefined()
          else {
            expect(haltedAt).toBeDefined()
            expect((haltedAt as number) - (first as number)).toBeGreaterThanOrEqual(sustainUs)
          }
        },
      ),
    )
  })

  it('does not halt on a delay shorter than the sustain time', () => {
    const skew = new ClockSkew({ maxSkewUs: 500_000, windowUs: S, sustainUs: 2 * S })
    let now = 0
    const step = (delay1: number) => {
      now += 100_000
      skew.sample(0, now, now)
      skew.sample(1, now - delay1, now)
      return skew.check(now)
    }
    for (let i = 0; i < 30; i++) expect(step(0)).toBeUndefined()
    // controller 1 is heard 3 s late (a backlog after a pause) for 1.5 s, then on time again
    for (let i = 0; i < 15; i++) expect(step(3 * S)).toBeUndefined()
    for (let i = 0; i < 50; i++) expect(step(0)).toBeUndefined()
    expect(skew.reading(now)?.skewUs).toBe(0)
  })

  it('names the leading and the lagging controller, and forgets one not heard for two windows', () => {
    const skew = new ClockSkew({ maxSkewUs: S, windowUs: S, sustainUs: 0 })
    skew.sample(0, 10 * S, 10 * S)
    skew.sample(1, 10 * S + 4 * S, 10 * S)
    skew.sample(2, 10 * S - 2 * S, 10 * S)
    expect(skew.reading(10 * S)).toMatchObject({ skewUs: 6 * S, ahead: 1, behind: 2 })
    expect(skew.check(10 * S)).toMatchObject({ skewUs: 6 * S, sinceUs: 10 * S })
    // 1.5 windows on only controller 0 is heard: the others' estimates are still kept (one to two windows)
    skew.sample(0, 11.5 * S, 11.5 * S)
    expect([...(skew.reading(11.5 * S)?.offsets.keys() ?? [])].sort()).toEqual([0, 1, 2])
    // past two windows: only controller 0 is left, a skew of 0
    skew.sample(0, 12.5 * S, 12.5 * S)
    expect(skew.reading(12.5 * S)).toMatchObject({ skewUs: 0, ahead: 0, behind: 0 })
    expect(skew.check(12.5 * S)).toBeUndefined()
  })

  it('refuses options that cannot work', () => {
    expect(() => new ClockSkew({ maxSkewUs: 0, windowUs: S, sustainUs: 0 })).toThrow(/bad options/)
    expect(() => new ClockSkew({ maxSkewUs: S, windowUs: 0, sustainUs: 0 })).toThrow(/bad options/)
    expect(() => new ClockSkew({ maxSkewUs: S, windowUs: S, sustainUs: -1 })).toThrow(/bad options/)
  })
})
