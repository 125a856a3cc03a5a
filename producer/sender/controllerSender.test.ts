import fc from 'fast-check'
import { expect, it } from 'vitest'
import type { Cut } from './recordSets.js'
import { firstBatch } from './controllerSender.js'

const cutOf = (bytes: number): Cut<number> => ({ recordSet: {} as Cut<number>['recordSet'], last: bytes, bytes })

it('takes the longest prefix of cuts whose values and record overheads fit the batch bound, at least one', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 40 }),
      fc.integer({ min: 0, max: 400 }),
      fc.integer({ min: 1, max: 20_000 }),
      (sizes, overhead, bound) => {
        const cuts = sizes.map(cutOf)
        const batch = firstBatch(cuts, bound, () => overhead)
        expect(batch.length).toBeGreaterThanOrEqual(1)
        expect(batch).toEqual(cuts.slice(0, batch.length))
        const total = (n: number): number => sizes.slice(0, n).reduce((a, b) => a + b + overhead, 0)
        if (batch.length > 1) expect(total(batch.length)).toBeLessThanOrEqual(bound)
        if (batch.length < cuts.length) expect(total(batch.length + 1)).toBeGreaterThan(bound)
      },
    ),
  )
})
