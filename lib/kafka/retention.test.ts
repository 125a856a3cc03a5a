import { describe, expect, it } from 'vitest'
import { XrcError } from '../errors.js'
import { retentionProblem } from './retention.js'

const VALUES = [-1, 0, 1000, 2000, 3_600_000]
/** A limit as a number of the same unit, unlimited as infinity. */
const limit = (v: number): number => (v < 0 ? Number.POSITIVE_INFINITY : v)

describe('retentionProblem', () => {
  it('accepts exactly the updates retentions that keep data as long as the journal keeps markers (exhaustive)', () => {
    for (const uMs of VALUES)
      for (const uBytes of VALUES)
        for (const jMs of VALUES)
          for (const jBytes of VALUES) {
            const got = retentionProblem({ ms: uMs, bytes: uBytes }, { ms: jMs, bytes: jBytes })
            const timeOk = limit(uMs) >= limit(jMs)
            const bytesOk = limit(uBytes) >= limit(jBytes)
            expect(got === undefined, JSON.stringify({ uMs, uBytes, jMs, jBytes })).toBe(timeOk && bytesOk)
            if (!timeOk) expect(got).toEqual({ setting: 'retention.ms', updates: uMs, journal: jMs })
            else if (!bytesOk) expect(got).toEqual({ setting: 'retention.bytes', updates: uBytes, journal: jBytes })
          }
  })

  it('refuses a byte limit on the updates while the journal keeps markers without one', () => {
    expect(retentionProblem({ ms: -1, bytes: 1 << 30 }, { ms: -1, bytes: -1 })?.setting).toBe('retention.bytes')
  })

  it('names both topics and both settings in the error', () => {
    const err = new XrcError('XRC_UPDATES_GONE', {
      reason: 'retention',
      topic: 'xrc.s.updates',
      updatesSetting: 'retention.ms',
      updates: '1000',
      journal: 'xrc.s.journal',
      journalSetting: 'retention.ms',
      journalValue: '-1',
    })
    expect(err.message).toMatch(/xrc\.s\.updates keeps retention\.ms=1000.*xrc\.s\.journal \(retention\.ms=-1\)/)
  })
})
