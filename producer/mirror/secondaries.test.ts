import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { AppliedState } from '../../schemas/appliedState.js'
import { confirmedAcross, slowestSecondary } from './secondaries.js'

function state(secondary: string, groupTime: number | null): AppliedState {
  return {
    session: 's',
    secondary,
    groupSeq: groupTime === null ? 0 : 1,
    groupTime,
    image: 'CONSISTENT',
    consistentGroupSeq: null,
    consistentGroupTime: null,
    publishedAt: 0,
  }
}

function states(...list: AppliedState[]): Map<string, AppliedState> {
  return new Map(list.map((s) => [s.secondary, s]))
}

describe('confirmedAcross', () => {
  it('confirms nothing before any secondary is heard', () => {
    expect(confirmedAcross(new Map())).toBeUndefined()
    expect(slowestSecondary(new Map())).toBeUndefined()
  })

  it('is the slower secondary, not the faster one', () => {
    const s = states(state('live', 9_000), state('delayed', 4_000))
    expect(confirmedAcross(s)).toBe(4_000)
    expect(slowestSecondary(s)?.secondary).toBe('delayed')
  })

  it('confirms nothing while one secondary holds no group yet', () => {
    const s = states(state('live', 9_000), state('new', null))
    expect(confirmedAcross(s)).toBeUndefined()
    expect(slowestSecondary(s)?.secondary).toBe('new')
  })

  it('property: never beyond what any secondary holds, and equal to what one holds', () => {
    fc.assert(
      fc.property(fc.array(fc.option(fc.integer({ min: 1, max: 1e12 }), { nil: null }), { minLength: 1 }), (times) => {
        const s = states(...times.map((t, i) => state(`s${i}`, t)))
        const confirmed = confirmedAcross(s)
        if (times.includes(null)) expect(confirmed).toBeUndefined()
        else {
          for (const t of times) expect(confirmed).toBeLessThanOrEqual(t as number)
          expect(times).toContain(confirmed)
          expect(slowestSecondary(s)?.groupTime).toBe(confirmed)
        }
      }),
    )
  })
})
