/**
 * Property test of backpressure against a model: for any run of batches
 * (each leaving some bytes buffered), drains and freezes, a partition is
 * paused the first time its buffer passes the bound, resumed only once it
 * is at half the bound or less and not frozen, and never paused or resumed
 * twice in a row.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Backpressure } from './backpressure.js'

const P = 4
const opArb = fc.oneof(
  fc.record({ kind: fc.constant('batch' as const), partition: fc.nat(P - 1), buffered: fc.nat(2000) }),
  fc.record({ kind: fc.constant('drain' as const), buffered: fc.array(fc.nat(2000), { minLength: P, maxLength: P }) }),
  fc.record({ kind: fc.constant('freeze' as const), partition: fc.nat(P - 1) }),
)

describe('Backpressure', () => {
  it('pauses past the bound, resumes at half of it unless frozen, and matches a model', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1500 }), fc.array(opArb, { maxLength: 100 }), (max, ops) => {
        const bp = new Backpressure(max)
        const paused = new Set<number>()
        const frozen = new Set<number>()
        for (const op of ops) {
          if (op.kind === 'batch') {
            const pause = bp.afterBatch(op.partition, op.buffered)
            expect(pause).toBe(op.buffered > max && !paused.has(op.partition))
            if (pause) paused.add(op.partition)
          } else if (op.kind === 'drain') {
            const resumed = bp.afterDrain(
              (p) => op.buffered[p] as number,
              (p) => frozen.has(p),
            )
            for (const p of resumed) {
              expect(paused.has(p)).toBe(true)
              expect(frozen.has(p)).toBe(false)
              expect(op.buffered[p]).toBeLessThanOrEqual(max / 2)
              paused.delete(p)
            }
            // what stays paused has a reason to
            for (const p of paused) expect(frozen.has(p) || (op.buffered[p] as number) > max / 2).toBe(true)
          } else {
            frozen.add(op.partition)
          }
          expect(new Set(bp.paused())).toEqual(paused)
          expect(bp.size).toBe(paused.size)
        }
      }),
    )
  })
})
