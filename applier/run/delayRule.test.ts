import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { delayHeld, delayStep, releasedUpTo, tighterBound } from './delayRule.js'

const NOW = 1_700_000_000_000

describe('delayStep', () => {
  it('applies at once without a delay, whatever the group time', () => {
    expect(delayStep(NOW * 1000 + 5_000_000, 0, NOW)).toEqual({ do: 'apply' })
  })

  it('waits until the group is delayMs old, then applies', () => {
    const groupTime = (NOW - 400) * 1000 // 400 ms old
    expect(delayStep(groupTime, 1000, NOW)).toEqual({ do: 'wait', ms: 600 })
    expect(delayStep(groupTime, 1000, NOW + 599)).toEqual({ do: 'wait', ms: 1 })
    expect(delayStep(groupTime, 1000, NOW + 600)).toEqual({ do: 'apply' })
    expect(delayStep(groupTime, 400, NOW)).toEqual({ do: 'apply' })
  })

  it('rounds a wait in part of a millisecond up, so the group is old enough when it is asked again', () => {
    const groupTime = (NOW - 400) * 1000 - 1 // 400.001 ms old
    expect(delayStep(groupTime, 1000, NOW)).toEqual({ do: 'wait', ms: 600 })
    expect(delayStep(groupTime, 1000, NOW + 600)).toEqual({ do: 'apply' })
  })

  it('property: applies exactly when the group is at least delayMs old, and agrees with releasedUpTo', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000_000_000 }),
        fc.integer({ min: 1, max: 3_600_000 }),
        fc.integer({ min: -5_000_000, max: 5_000_000 }),
        (ageMicros, delayMs, jitter) => {
          const groupTime = NOW * 1000 - ageMicros + jitter
          const step = delayStep(groupTime, delayMs, NOW)
          const ageMs = NOW - groupTime / 1000
          const bound = releasedUpTo(delayMs, NOW) as number
          expect(step.do === 'apply').toBe(ageMs >= delayMs)
          expect(step.do === 'apply').toBe(groupTime <= bound)
          if (step.do === 'wait') {
            expect(step.ms).toBeGreaterThan(0)
            // waiting what it says is enough, and not a millisecond more than needed
            expect(delayStep(groupTime, delayMs, NOW + step.ms)).toEqual({ do: 'apply' })
            if (step.ms > 1) expect(delayStep(groupTime, delayMs, NOW + step.ms - 1).do).toBe('wait')
          }
        },
      ),
    )
  })
})

describe('releasedUpTo and tighterBound', () => {
  it('has no bound without a delay, and takes the tighter of two bounds', () => {
    expect(releasedUpTo(0, NOW)).toBeUndefined()
    expect(releasedUpTo(1000, NOW)).toBe((NOW - 1000) * 1000)
    expect(tighterBound(undefined, undefined)).toBeUndefined()
    expect(tighterBound(5, undefined)).toBe(5)
    expect(tighterBound(undefined, 7)).toBe(7)
    expect(tighterBound(9, 7)).toBe(7)
  })
})

describe('delayHeld', () => {
  it('reports the delay, the groups waiting and the age of the oldest', () => {
    expect(delayHeld(5000, undefined, NOW)).toEqual({ delayMs: 5000, groupsWaiting: 0 })
    expect(delayHeld(5000, { oldestTime: (NOW - 1200) * 1000, groups: 3 }, NOW)).toEqual({
      delayMs: 5000,
      groupsWaiting: 3,
      oldestWaitingMs: 1200,
    })
  })
})
