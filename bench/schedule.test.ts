import { describe, expect, it } from 'vitest'
import { commitTimes, openLoopSchedule } from './schedule.js'

describe('openLoopSchedule', () => {
  it('spaces writes evenly from the start, whatever happened before', () => {
    const s = openLoopSchedule({ startMs: 1000, rate: 200, durationMs: 1000 })
    expect(s.count).toBe(200)
    expect(s.dueAt(0)).toBe(1000)
    expect(s.dueAt(1)).toBe(1005)
    expect(s.dueAt(199)).toBe(1995)
  })

  it('counts the writes due by a time, including the one due exactly then', () => {
    const s = openLoopSchedule({ startMs: 1000, rate: 100, durationMs: 1000 })
    expect(s.dueBy(999)).toBe(0)
    expect(s.dueBy(1000)).toBe(1)
    expect(s.dueBy(1009.9)).toBe(1)
    expect(s.dueBy(1010)).toBe(2)
    // a writer that stalled for half a second owes every write due meanwhile, not just the next one
    expect(s.dueBy(1500)).toBe(51)
    expect(s.dueBy(99_999)).toBe(100)
  })

  it('does not drift over a long schedule', () => {
    const s = openLoopSchedule({ startMs: 0, rate: 3, durationMs: 3_600_000 })
    expect(s.count).toBe(10_800)
    expect(s.dueAt(10_799)).toBeCloseTo(3_599_666.667, 3)
  })

  it('schedules at least one write, and refuses a rate or duration that is not positive', () => {
    expect(openLoopSchedule({ startMs: 0, rate: 0.5, durationMs: 100 }).count).toBe(1)
    expect(() => openLoopSchedule({ startMs: 0, rate: 0, durationMs: 100 })).toThrow(RangeError)
    expect(() => openLoopSchedule({ startMs: 0, rate: Number.NaN, durationMs: 100 })).toThrow(RangeError)
    expect(() => openLoopSchedule({ startMs: 0, rate: 10, durationMs: 0 })).toThrow(RangeError)
  })
})

describe('commitTimes', () => {
  const groups = { groupTime: [100, 200, 300], commitMs: [5000, 5100, 5250] }

  it('gives each write the commit of the first group whose time covers it', () => {
    expect([...commitTimes([1, 100, 101, 200, 250, 300], groups)]).toEqual([5000, 5000, 5100, 5100, 5250, 5250])
  })

  it('is NaN for a write no group covers yet, and for a failed write', () => {
    const out = commitTimes([301, Number.NaN], groups)
    expect(Number.isNaN(out[0])).toBe(true)
    expect(Number.isNaN(out[1])).toBe(true)
  })

  it('takes typed arrays and no groups at all', () => {
    expect(
      Number.isNaN(
        commitTimes(new Float64Array([5]), { groupTime: new Float64Array(0), commitMs: new Float64Array(0) })[0],
      ),
    ).toBe(true)
  })
})
