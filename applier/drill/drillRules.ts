/**
 * The rules of a drill, without I/O: which names it takes, which group it
 * runs on, and what start, serve and stop do in each phase. drills.ts reads
 * the facts in one transaction (the control row locked, as an apply does)
 * and acts on the plan; property tests run these rules over any sequence
 * of commands (drillRules.test.ts).
 *
 * A session has at most one drill. It runs on a group whose image the
 * secondary still keeps: the newest applied group (taken now), or a group
 * an active snapshot pins (its pin is taken too, so deleting that snapshot
 * does not take the drill's image with it). Phases: running (served or
 * not), then stopping once `xrc drill stop` begins; a stop that was cut
 * short is finished by the next one. A stopped drill leaves one history row
 * and nothing else.
 */
import { XrcError } from '../../lib/errors.js'
import type { AppliedMark } from '../journal/index.js'
import { DRILL_SNAPSHOT_PREFIX } from '../store/snapshotRules.js'

/** A drill's name: what the operator calls it, and part of its snapshot's name. */
const DRILL_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/

export type DrillPhase = 'running' | 'stopping'

/** The session's drill, as the rules need it. */
export interface DrillRecord {
  name: string
  phase: DrillPhase
  groupSeq: number
  /** ISO time it started. */
  startedAt: string
}

/** An active snapshot and the group it pins. */
export interface PinnedSnapshot {
  name: string
  pin: AppliedMark
}

/** XRC_USAGE unless `name` is 1-64 letters, digits, . _ @ - starting with a letter or digit. */
export function checkDrillName(name: string): void {
  if (!DRILL_NAME.test(name)) throw new XrcError('XRC_USAGE', { reason: 'drillName', name })
}

/** drill-YYYYMMDD-HHMMSS (UTC): a name that sorts by when the drill started. */
export function defaultDrillName(now: Date): string {
  const iso = now.toISOString()
  return `drill-${iso.slice(0, 10).replaceAll('-', '')}-${iso.slice(11, 19).replaceAll(':', '')}`
}

/** The snapshot a drill pins its group with: its own, deleted with it. */
export function drillSnapshotName(drill: string): string {
  return `${DRILL_SNAPSHOT_PREFIX}${drill}`
}

/** What a start is decided on. */
export interface StartFacts {
  session: string
  current: DrillRecord | undefined
  /** The newest applied group; undefined when none is. */
  last: AppliedMark | undefined
  /** The live image's consistency, and the group a resync falls back on while it is inconsistent. */
  image: 'consistent' | 'inconsistent'
  fallbackSeq?: number
  /** --at-group; undefined: the newest applied group. */
  atGroup?: number
  /** The active snapshots (a past group is available through them only). */
  pinned: readonly PinnedSnapshot[]
}

/** Where a drill's image comes from: the newest applied group, or the pin of a snapshot. */
export type StartPlan =
  { pin: AppliedMark; source: 'newest' } | { pin: AppliedMark; source: 'snapshot'; snapshot: string }

/** Refuses a start while a drill exists (running or being stopped). */
function refuseWhileDrill(session: string, current: DrillRecord | undefined): void {
  if (current === undefined) return
  if (current.phase === 'stopping')
    throw new XrcError('XRC_CONFLICT', { reason: 'drillStopping', name: current.name, session })
  throw new XrcError('XRC_CONFLICT', {
    reason: 'drillRunning',
    name: current.name,
    session,
    groupSeq: current.groupSeq,
    startedAt: current.startedAt,
  })
}

/**
 * The group a new drill runs on, or the refusal: a drill exists
 * (XRC_CONFLICT), nothing is applied or the group is not kept (XRC_USAGE),
 * the live image is inconsistent (XRC_CONFLICT: a snapshot's group still
 * serves).
 */
export function planDrillStart(f: StartFacts): StartPlan {
  refuseWhileDrill(f.session, f.current)
  const { last, atGroup, session } = f
  const newest = (): StartPlan => {
    if (last === undefined) throw new XrcError('XRC_USAGE', { reason: 'drillNothingApplied', session })
    if (f.image === 'inconsistent')
      throw new XrcError('XRC_CONFLICT', { reason: 'drillInconsistent', session, groupSeq: f.fallbackSeq ?? 0 })
    return { pin: last, source: 'newest' }
  }
  if (last === undefined) throw new XrcError('XRC_USAGE', { reason: 'drillNothingApplied', session })
  if (atGroup === undefined) return newest()
  if (atGroup === last.groupSeq && f.image === 'consistent') return newest()
  const byName = [...f.pinned].sort((a, b) => a.name.localeCompare(b.name))
  const source = byName.find((s) => s.pin.groupSeq === atGroup)
  if (source !== undefined) return { pin: source.pin, source: 'snapshot', snapshot: source.name }
  const groupSeq = last.groupSeq
  if (atGroup > groupSeq)
    throw new XrcError('XRC_USAGE', { reason: 'drillGroupNotApplied', atGroup, session, groupSeq })
  if (atGroup === groupSeq) return newest()
  const pinned = [...new Set(f.pinned.map((s) => s.pin.groupSeq))].sort((a, b) => a - b)
  throw new XrcError('XRC_USAGE', {
    reason: 'drillGroupNotPinned',
    atGroup,
    session,
    groupSeq,
    pinned: pinned.length === 0 ? 'none' : pinned.join(', '),
  })
}

/** What a stop does: nothing (no drill: says so), or stop it, marking it stopping first unless a stop began. */
export type StopPlan = { kind: 'nothing' } | { kind: 'stop'; name: string; markStopping: boolean }

export function planDrillStop(current: DrillRecord | undefined): StopPlan {
  if (current === undefined) return { kind: 'nothing' }
  return { kind: 'stop', name: current.name, markStopping: current.phase === 'running' }
}

/** A drill is served only while it runs: XRC_NOT_FOUND with none, XRC_CONFLICT while it is stopped. */
export function checkDrillServe(session: string, schema: string, current: DrillRecord | undefined): DrillRecord {
  if (current === undefined) throw new XrcError('XRC_NOT_FOUND', { reason: 'noDrill', session, schema })
  if (current.phase === 'stopping')
    throw new XrcError('XRC_CONFLICT', { reason: 'drillStopping', name: current.name, session })
  return current
}
