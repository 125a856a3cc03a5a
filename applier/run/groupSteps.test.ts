import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { settledOutcome, startStep, stepAfter, stepBefore } from './groupSteps.js'

/** The run loop's stop-time decisions over a journal of groups with these times; what it applies. */
function run(times: readonly number[], stopAtTime: number | undefined): { applied: number[]; stopped: boolean } {
  const applied: number[] = []
  for (const t of times) {
    if (stepBefore(t, stopAtTime) === 'stop-time') return { applied, stopped: true }
    applied.push(t)
    if (stepAfter(t, stopAtTime) === 'stop-time') return { applied, stopped: true }
  }
  return { applied, stopped: false }
}

const increasingTimes = fc
  .uniqueArray(fc.integer({ min: 1, max: 1000 }), { maxLength: 30 })
  .map((ts) => [...ts].sort((a, b) => a - b))

describe('the stop time', () => {
  it('applies exactly the groups with T <= stopAtTime, and stops once no later group can (property)', () => {
    fc.assert(
      fc.property(increasingTimes, fc.option(fc.integer({ min: 0, max: 1001 }), { nil: undefined }), (times, stop) => {
        const { applied, stopped } = run(times, stop)
        expect(applied).toEqual(stop === undefined ? times : times.filter((t) => t <= stop))
        // it stops once a group reaches or passes T; without a stop time it follows the journal
        expect(stopped).toBe(stop !== undefined && times.some((t) => t >= stop))
      }),
    )
  })

  it('applies the group at exactly the stop time, then stops', () => {
    expect(run([1, 2, 3, 4], 3)).toEqual({ applied: [1, 2, 3], stopped: true })
    expect(run([1, 2, 4], 3)).toEqual({ applied: [1, 2], stopped: true })
  })
})

describe('startStep', () => {
  it('follows the journal from the offset after the control row', () => {
    expect(startStep(undefined, undefined)).toEqual({ fromOffset: 0, finished: false })
    expect(startStep({ groupSeq: 4, groupTime: 40, journalOffset: 17 }, undefined)).toEqual({
      fromOffset: 18,
      finished: false,
    })
  })

  it('is finished exactly when the store already holds a group at or after the stop time (property)', () => {
    fc.assert(
      fc.property(
        fc.option(fc.record({ groupSeq: fc.nat(), groupTime: fc.nat(), journalOffset: fc.nat() }), { nil: undefined }),
        fc.option(fc.nat(), { nil: undefined }),
        (last, stop) => {
          const step = startStep(last, stop)
          expect(step.fromOffset).toBe(last === undefined ? 0 : last.journalOffset + 1)
          expect(step.finished).toBe(last !== undefined && stop !== undefined && last.groupTime >= stop)
        },
      ),
    )
  })
})

describe('settledOutcome', () => {
  it('calls a group found committed after an unknown COMMIT applied; otherwise reports what the store said', () => {
    fc.assert(
      fc.property(fc.constantFrom('applied' as const, 'duplicate' as const), fc.boolean(), (outcome, unknown) => {
        expect(settledOutcome(outcome, unknown)).toBe(unknown ? 'applied' : outcome)
      }),
    )
  })
})
