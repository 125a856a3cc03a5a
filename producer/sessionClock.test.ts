import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { isXrcError } from '../lib/errors.js'
import { createSessionClock } from './sessionClock.js'

/** A physical clock that replays `readings` (then repeats the last one). */
function scripted(readings: number[]): () => number {
  let i = 0
  return () => readings[Math.min(i++, readings.length - 1)] ?? 0
}

const micros = fc.integer({ min: 0, max: 2 ** 50 })
type Op = { op: 'tick' } | { op: 'observe'; t: number } | { op: 'advance'; t: number }
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.constant<Op>({ op: 'tick' }),
  micros.map<Op>((t) => ({ op: 'observe', t })),
  micros.map<Op>((t) => ({ op: 'advance', t })),
)

describe('session clock', () => {
  it('ticks strictly increase whatever the physical clock does (steps back, stands still)', () => {
    fc.assert(
      fc.property(fc.array(micros, { minLength: 1, maxLength: 200 }), (readings) => {
        const clock = createSessionClock({ now: scripted(readings) })
        let prev = -1
        for (let i = 0; i < readings.length; i++) {
          const t = clock.tick()
          expect(t).toBeGreaterThan(prev)
          expect(t).toBeGreaterThanOrEqual(readings[i] as number)
          prev = t
        }
      }),
    )
  })

  it('a tick after observe(t) or advanceTo(t) exceeds t, and the clock never goes backwards', () => {
    fc.assert(
      fc.property(
        fc.array(micros, { minLength: 1, maxLength: 50 }),
        fc.array(opArb, { maxLength: 200 }),
        (readings, ops) => {
          // no lead bound here: the property is about ordering, the bound has its own test
          const clock = createSessionClock({ now: scripted(readings), maxAheadUs: Number.MAX_SAFE_INTEGER })
          let floor = -1 // greatest time issued or taken in so far
          for (const op of ops) {
            const before = clock.last()
            if (op.op === 'tick') {
              const t = clock.tick()
              expect(t).toBeGreaterThan(floor)
              floor = t
            } else {
              if (op.op === 'observe') clock.observe(op.t)
              else clock.advanceTo(op.t)
              floor = Math.max(floor, op.t)
            }
            expect(clock.last()).toBeGreaterThanOrEqual(before)
            expect(clock.last()).toBe(Math.max(floor, 0))
          }
        },
      ),
    )
  })

  it('seeded from recovered times, a restarted clock issues times above them even when the wall clock is behind', () => {
    fc.assert(
      fc.property(micros, fc.array(micros, { minLength: 1, maxLength: 20 }), (seed, readings) => {
        const clock = createSessionClock({ now: scripted(readings), seed })
        expect(clock.tick()).toBeGreaterThan(seed)
      }),
    )
  })

  it('models causality across clocks: a write after an acknowledged one on another clock is later', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), micros, micros), { minLength: 1, maxLength: 100 }), (steps) => {
        // two processes, each with its own (skewed) physical clock
        let nowA = 0
        let nowB = 0
        const a = createSessionClock({ now: () => nowA, maxAheadUs: Number.MAX_SAFE_INTEGER })
        const b = createSessionClock({ now: () => nowB, maxAheadUs: Number.MAX_SAFE_INTEGER })
        let token: number | undefined
        for (const [onA, pa, pb] of steps) {
          nowA = Math.max(nowA, pa)
          nowB = pb // B's clock jumps about freely
          const clock = onA ? a : b
          if (token !== undefined) clock.observe(token)
          const t = clock.tick()
          if (token !== undefined) expect(t).toBeGreaterThan(token)
          token = t
        }
      }),
    )
  })

  it('rejects a causal token too far ahead, or not an integer', () => {
    const clock = createSessionClock({ now: () => 1_000_000, maxAheadUs: 5_000_000 })
    clock.observe(6_000_000)
    expect(clock.tick()).toBe(6_000_001)
    for (const bad of [6_000_001 + 5_000_000, -1, 1.5, Number.NaN, 2 ** 60]) {
      let caught: unknown
      try {
        clock.observe(bad)
      } catch (err) {
        caught = err
      }
      expect(isXrcError(caught, 'XRC_INVALID_RECORD')).toBe(true)
    }
    expect(clock.last()).toBe(6_000_001)
  })
})
