import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { XrcError } from '../lib/errors.js'
import {
  describeWindow,
  planRecovery,
  recoveryWindow,
  type JournalReach,
  type RecoveryBase,
  type SnapshotBase,
} from './recoveryPlan.js'

/** Group seq s has time 100 * s in these tests. */
const mark = (seq: number): { seq: number; time: number } => ({ seq, time: 100 * seq })
const snap = (name: string, seq: number): SnapshotBase => ({ name, groupSeq: seq, groupTime: 100 * seq })
const journal = (from: number | undefined, newest: number | undefined): JournalReach => ({
  recoverableFrom: from === undefined ? undefined : mark(from),
  newest: newest === undefined ? undefined : mark(newest),
})

describe('recoveryWindow', () => {
  it('is the whole journal when it still holds group 1', () => {
    const w = recoveryWindow(journal(1, 50), [])
    expect(w).toEqual({ span: { from: mark(1), to: mark(50), base: 'empty' }, points: [] })
    expect(describeWindow(w)).toBe('groups 1 to 50 (the journal from group 1)')
  })

  it('starts at the oldest snapshot the journal continues from; older snapshots are points', () => {
    const w = recoveryWindow(journal(31, 50), [snap('old', 10), snap('a', 30), snap('b', 40)])
    expect(w.span).toEqual({ from: mark(30), to: mark(50), base: snap('a', 30) })
    expect(w.points).toEqual([snap('old', 10)])
    expect(describeWindow(w)).toBe('groups 30 to 50 (snapshot "a" and the journal); group 10 (snapshot "old" only)')
  })

  it('takes a snapshot from before a rebase on a new journal (groups from 1 again, later times) as a point only', () => {
    const rebased: JournalReach = { recoverableFrom: { seq: 1, time: 90_000 }, newest: { seq: 40, time: 94_000 } }
    const old: SnapshotBase = { name: 'old', groupSeq: 30, groupTime: 3_000 }
    expect(recoveryWindow(rebased, [old])).toEqual({
      span: { from: { seq: 1, time: 90_000 }, to: { seq: 40, time: 94_000 }, base: 'empty' },
      points: [old],
    })
    expect(planRecovery(rebased, [old], { group: 35 })).toEqual({ kind: 'empty' })
    const cut: JournalReach = { ...rebased, recoverableFrom: { seq: 10, time: 91_000 } }
    expect(recoveryWindow(cut, [old])).toEqual({ span: undefined, points: [old] })
  })

  it('has no span when the journal lost its start and no snapshot bridges the gap', () => {
    expect(recoveryWindow(journal(20, 50), [snap('x', 5)])).toEqual({ span: undefined, points: [snap('x', 5)] })
    expect(describeWindow(recoveryWindow(journal(undefined, undefined), []))).toBe('no group is recoverable')
  })
})

describe('planRecovery', () => {
  it('starts from the newest snapshot at or before the target, else from the empty image', () => {
    const snaps = [snap('a', 10), snap('b', 20)]
    expect(planRecovery(journal(1, 50), snaps, { group: 25 })).toEqual({ kind: 'snapshot', snapshot: snap('b', 20) })
    expect(planRecovery(journal(1, 50), snaps, { group: 20 })).toEqual({ kind: 'snapshot', snapshot: snap('b', 20) })
    expect(planRecovery(journal(1, 50), snaps, { group: 9 })).toEqual({ kind: 'empty' })
    expect(planRecovery(journal(1, 50), snaps, { time: 1999 })).toEqual({ kind: 'snapshot', snapshot: snap('a', 10) })
  })

  it('takes an isolated snapshot for its own group only, and refuses outside the window naming it', () => {
    const snaps = [snap('old', 5), snap('a', 30)]
    expect(planRecovery(journal(31, 50), snaps, { group: 5 })).toEqual({ kind: 'snapshot', snapshot: snap('old', 5) })
    const refused = (): RecoveryBase => planRecovery(journal(31, 50), snaps, { group: 6 })
    expect(refused).toThrow(XrcError)
    expect(refused).toThrow(
      'group 6 is outside the recovery window: groups 30 to 50 (snapshot "a" and the journal); group 5 (snapshot "old" only)',
    )
    expect(() => planRecovery(journal(31, 50), snaps, { group: 51 })).toThrow(/group 51 is outside/)
    expect(() => planRecovery(journal(1, 50), [], { time: 50 })).toThrow(/time 50 is outside/)
  })

  const scenario = fc.record({
    from: fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }),
    length: fc.integer({ min: 0, max: 40 }),
    snapshots: fc.uniqueArray(fc.integer({ min: 1, max: 80 }), { maxLength: 6 }),
    target: fc.integer({ min: 0, max: 90 }),
  })

  it('property: a plan exists exactly for the targets a replay can reach, and from the newest base it can', () => {
    fc.assert(
      fc.property(scenario, ({ from, length, snapshots, target }) => {
        const newest = from === undefined ? undefined : from + length
        // snapshots pin groups the journal once held (at most its newest)
        const snaps = snapshots.filter((s) => newest === undefined || s <= newest).map((s) => snap(`s${s}`, s))
        const j = journal(from, newest)
        // the model: group g is reachable from base b when b = g, or the journal holds b+1 .. g
        const holds = (g: number): boolean => from !== undefined && newest !== undefined && g >= from && g <= newest
        const reachable = (b: number): boolean =>
          b === target || (b < target && Array.from({ length: target - b }, (_, i) => b + 1 + i).every(holds))
        const bases = [...(from === 1 ? [0] : []), ...snaps.map((s) => s.groupSeq)].filter((b) => b <= target)
        const best = bases.filter(reachable).sort((a, b) => b - a)[0]
        let plan: RecoveryBase | undefined
        try {
          plan = planRecovery(j, snaps, { group: target })
        } catch (err) {
          expect((err as XrcError).code).toBe('XRC_USAGE')
        }
        if (best === undefined || target === 0) expect(plan).toBeUndefined()
        else
          expect(plan).toEqual(best === 0 ? { kind: 'empty' } : { kind: 'snapshot', snapshot: snap(`s${best}`, best) })
      }),
      { numRuns: 2000 },
    )
  })
})
