import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { settledOutcome, startStep, stepAfter, stepBefore, type StopAt } from './groupSteps.js'

/** The run loop's stop decisions over a journal of groups 1, 2, ... with these times; the times it applies. */
function run(times: readonly number[], stopAt: StopAt): { applied: number[]; stopped: boolean } {
  const applied: number[] = []
  for (const [i, t] of times.entries()) {
    const group = { groupSeq: i + 1, groupTime: t }
    if (stepBefore(group, stopAt) === 'stop-time') return { applied, stopped: true }
    applied.push(t)
    if (stepAfter(group, stopAt) === 'stop-time') return { applied, stopped: true }
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
        const { applied, stopped } = run(times, { time: stop })
        expect(applied).toEqual(stop === undefined ? times : times.filter((t) => t <= stop))
        // it stops once a group reaches or passes T; without a stop time it follows the journal
        expect(stopped).toBe(stop !== undefined && times.some((t) => t >= stop))
      }),
    )
  })

  it('applies the group at exactly the stop time, then stops', () => {
    expect(run([1, 2, 3, 4], { time: 3 })).toEqual({ applied: [1, 2, 3], stopped: true })
    expect(run([1, 2, 4], { time: 3 })).toEqual({ applied: [1, 2], stopped: true })
  })
})

describe('the stop group', () => {
  it('applies exactly groups 1..N, or the groups within both bounds when a time is given too (property)', () => {
    fc.assert(
      fc.property(
        increasingTimes,
        fc.option(fc.integer({ min: 0, max: 32 }), { nil: undefined }),
        fc.option(fc.integer({ min: 0, max: 1001 }), { nil: undefined }),
        (times, group, time) => {
          const { applied, stopped } = run(times, { group, time })
          const within = times.filter(
            (t, i) => (group === undefined || i + 1 <= group) && (time === undefined || t <= time),
          )
          expect(applied).toEqual(within)
          // a group at or past N exists (with N = 0, any group)
          const reachesGroup = group !== undefined && times.length >= Math.max(group, 1)
          const reachesTime = time !== undefined && times.some((t) => t >= time)
          expect(stopped).toBe(reachesGroup || reachesTime)
        },
      ),
    )
  })

  it('applies group N, then stops; N = 0 applies nothing', () => {
    expect(run([10, 20, 30], { group: 2 })).toEqual({ applied: [10, 20], stopped: true })
    expect(run([10, 20, 30], { group: 0 })).toEqual({ applied: [], stopped: true })
    expect(run([10, 20, 30], { group: 5 })).toEqual({ applied: [10, 20, 30], stopped: false })
  })
})

describe('startStep', () => {
  it('follows the journal from the offset after the control row', () => {
    expect(startStep(undefined, {})).toEqual({ fromOffset: 0, finished: false })
    expect(startStep({ groupSeq: 4, groupTime: 40, journalOffset: 17 }, {})).toEqual({
      fromOffset: 18,
      finished: false,
    })
  })

  it('is finished exactly when the store already holds a group at or after the stop point (property)', () => {
    fc.assert(
      fc.property(
        fc.option(fc.record({ groupSeq: fc.nat(), groupTime: fc.nat(), journalOffset: fc.nat() }), { nil: undefined }),
        fc.option(fc.nat(), { nil: undefined }),
        fc.option(fc.nat(), { nil: undefined }),
        (last, stop, stopGroup) => {
          const step = startStep(last, { time: stop, group: stopGroup })
          expect(step.fromOffset).toBe(last === undefined ? 0 : last.journalOffset + 1)
          const reached =
            (stop !== undefined && (last?.groupTime ?? -1) >= stop) ||
            (stopGroup !== undefined && (last?.groupSeq ?? -1) >= stopGroup)
          expect(step.finished).toBe(last !== undefined && reached)
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
