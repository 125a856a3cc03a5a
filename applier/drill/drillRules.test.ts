import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isXrcError } from '../../lib/errors.js'
import type { AppliedMark } from '../journal/index.js'
import {
  checkDrillName,
  checkDrillServe,
  defaultDrillName,
  drillSnapshotName,
  planDrillStart,
  planDrillStop,
  type DrillRecord,
  type PinnedSnapshot,
} from './drillRules.js'

const mark = (seq: number): AppliedMark => ({ groupSeq: seq, groupTime: seq * 1000, journalOffset: seq * 2 })
const S = 's1'

describe('planDrillStart', () => {
  const pinned: PinnedSnapshot[] = [
    { name: 'nightly', pin: mark(4) },
    { name: 'b-weekly', pin: mark(2) },
    { name: 'a-weekly', pin: mark(2) },
  ]
  const facts = { session: S, current: undefined, last: mark(9), image: 'consistent' as const, pinned }

  it('takes the newest applied group by default, or when --at-group names it', () => {
    expect(planDrillStart(facts)).toEqual({ pin: mark(9), source: 'newest' })
    expect(planDrillStart({ ...facts, atGroup: 9 })).toEqual({ pin: mark(9), source: 'newest' })
  })

  it("takes a past group's pin from a snapshot (the first by name when several pin it)", () => {
    expect(planDrillStart({ ...facts, atGroup: 4 })).toEqual({ pin: mark(4), source: 'snapshot', snapshot: 'nightly' })
    expect(planDrillStart({ ...facts, atGroup: 2 })).toMatchObject({ snapshot: 'a-weekly' })
  })

  it('refuses a group not applied, not kept, or nothing applied, naming what is kept', () => {
    expect(() => planDrillStart({ ...facts, atGroup: 10 })).toThrow(/has applied up to group 9/)
    expect(() => planDrillStart({ ...facts, atGroup: 3 })).toThrow(
      /newest group \(9\) and of the groups its snapshots pin \(2, 4\)/,
    )
    expect(() => planDrillStart({ ...facts, pinned: [], atGroup: 3 })).toThrow(/pin \(none\)/)
    expect(() => planDrillStart({ ...facts, last: undefined, pinned: [] })).toThrow(/has applied no group yet/)
  })

  it('refuses the live image while a resync makes it inconsistent, not a snapshot taken before', () => {
    const inconsistent = { ...facts, image: 'inconsistent' as const, fallbackSeq: 4 }
    expect(() => planDrillStart(inconsistent)).toThrow(/inconsistent \(a resync is being applied after group 4\)/)
    expect(() => planDrillStart({ ...inconsistent, atGroup: 9 })).toThrow(/inconsistent/)
    expect(planDrillStart({ ...inconsistent, atGroup: 4 })).toMatchObject({ source: 'snapshot', pin: mark(4) })
  })

  it('refuses while a drill runs or is being stopped, naming it', () => {
    const current: DrillRecord = { name: 'q3', phase: 'running', groupSeq: 7, startedAt: '2026-12-06T17:00:00Z' }
    expect(() => planDrillStart({ ...facts, current })).toThrow(/drill "q3" already runs .*group 7, started 2026/)
    expect(() => planDrillStart({ ...facts, current: { ...current, phase: 'stopping' } })).toThrow(/being stopped/)
  })
})

describe('names', () => {
  it('takes 1-64 letters, digits, . _ @ - from a letter or digit', () => {
    for (const ok of ['q4', 'drill-20261206-174500', 'a.b_c@d-e', 'x'.repeat(64)])
      expect(() => checkDrillName(ok)).not.toThrow()
    for (const bad of ['', '-x', 'a b', 'a:b', 'x'.repeat(65), 'é'])
      expect(() => checkDrillName(bad)).toThrow(/drill name/)
  })

  it('defaults to drill-<UTC date>-<time>, and names the snapshot after the drill', () => {
    expect(defaultDrillName(new Date('2026-12-06T17:45:09.123Z'))).toBe('drill-20261206-174509')
    expect(drillSnapshotName('q4')).toBe('drill:q4')
  })
})

/**
 * The lifecycle over any sequence of commands, against a model of the
 * store: start (maybe served), the server letting go, stop (maybe cut
 * short after marking), serve. Invariants: at most one drill; a stop never
 * discards while the drill is served; every drill started is recorded in
 * the history exactly once, and leaves no overlay or snapshot behind.
 */
type Command =
  | { kind: 'start'; name: string; serve: boolean }
  | { kind: 'stop'; cutShort: boolean }
  | { kind: 'serve' }
  | { kind: 'serverExits' }

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ kind: fc.constant('start' as const), name: fc.constantFrom('a', 'b', 'c'), serve: fc.boolean() }),
  fc.record({ kind: fc.constant('stop' as const), cutShort: fc.boolean() }),
  fc.constant({ kind: 'serve' as const }),
  fc.constant({ kind: 'serverExits' as const }),
)

describe('the drill lifecycle', () => {
  it('keeps at most one drill, never discards a served one, and records each drill once', () => {
    fc.assert(
      fc.property(fc.array(commandArb, { maxLength: 40 }), (commands) => {
        let current: DrillRecord | undefined
        let served = false
        const overlays = new Set<string>()
        const snapshots = new Set<string>()
        const history: string[] = []
        let started = 0
        for (const c of commands) {
          switch (c.kind) {
            case 'start': {
              try {
                const plan = planDrillStart({ session: S, current, last: mark(5), image: 'consistent', pinned: [] })
                expect(plan.source).toBe('newest')
                current = { name: c.name, phase: 'running', groupSeq: 5, startedAt: 'now' }
                snapshots.add(drillSnapshotName(c.name))
                overlays.add(c.name)
                served = c.serve
                started++
              } catch (err) {
                expect(isXrcError(err, 'XRC_CONFLICT')).toBe(true)
                expect(current).toBeDefined()
              }
              break
            }
            case 'serve':
              try {
                checkDrillServe(S, S, current)
                // a second server is refused by the serving lease, not by the rules
                served = true
              } catch (err) {
                expect(current === undefined || current.phase === 'stopping').toBe(true)
                expect(isXrcError(err)).toBe(true)
              }
              break
            case 'serverExits':
              served = false
              break
            case 'stop': {
              const plan = planDrillStop(current)
              if (plan.kind === 'nothing') {
                expect(current).toBeUndefined()
                break
              }
              if (plan.markStopping) current = { ...(current as DrillRecord), phase: 'stopping' }
              // the server sees the drill stopping and lets go before anything is discarded
              if (current?.phase === 'stopping') served = false
              if (c.cutShort) break
              expect(served).toBe(false)
              overlays.delete(plan.name)
              snapshots.delete(drillSnapshotName(plan.name))
              history.push(plan.name)
              current = undefined
              break
            }
          }
          expect(overlays.size + snapshots.size).toBe(current === undefined ? 0 : 2)
        }
        const stillRunning = current === undefined ? 0 : 1
        expect(history.length + stillRunning).toBe(started)
      }),
    )
  })
})
