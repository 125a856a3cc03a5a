import { describe, expect, it } from 'vitest'
import type { DrillHistoryEntry, DrillInfo } from '../../applier/index.js'
import { currentText, lastText } from './drillText.js'

const T = Date.UTC(2026, 11, 6, 17, 0, 0) * 1000
const running: DrillInfo = {
  name: 'q4',
  snapshot: 'drill:q4',
  groupSeq: 1200,
  groupTime: T,
  journalOffset: 2400,
  source: { kind: 'snapshot', snapshot: 'nightly' },
  phase: 'running',
  startedAt: new Date('2026-12-06T17:05:00Z'),
  blocksWritten: 42,
}

describe('a drill in words', () => {
  it('says which drill runs, on which group and from where, what it wrote and who serves it', () => {
    expect(currentText({ ...running, servedBy: 'application "xrc-drill", PostgreSQL backend pid 7' })).toBe(
      'drill: "q4" running since 2026-12-06T17:05:00.000Z on group 1200 (T 2026-12-06T17:00:00.000000Z), ' +
        'the pin of snapshot "nightly"; 42 blocks written; served by application "xrc-drill", PostgreSQL backend pid 7',
    )
    const stopping = currentText({ ...running, phase: 'stopping', source: { kind: 'newest' } })
    expect(stopping).toMatch(
      /"q4" BEING STOPPED \(xrc drill stop finishes it\) .* the newest applied group; .* not served/,
    )
    expect(currentText(undefined)).toBe('drill: none running')
  })

  it('says when the last drill ran, how long, its group, what it wrote and what was checked', () => {
    const last: DrillHistoryEntry = {
      name: 'q3',
      snapshot: 'drill:q3',
      groupSeq: 900,
      groupTime: T,
      source: { kind: 'newest' },
      startedAt: new Date('2026-09-01T10:00:00Z'),
      stoppedAt: new Date('2026-09-01T10:45:00Z'),
      checked: 'VM booted',
      blocksWritten: 10,
      bytesWritten: 40960,
    }
    expect(lastText(last)).toMatch(
      /^last drill: "q3" 2026-09-01T10:00:00.000Z to 2026-09-01T10:45:00.000Z \(.+\) on group 900 .*; 10 blocks written; checked: VM booted$/,
    )
    const { checked: _checked, ...unchecked } = last
    expect(lastText(unchecked)).toMatch(/checked: -$/)
    expect(lastText(undefined)).toBe('last drill: none yet')
  })
})
