/**
 * Point-in-time recovery as a pure decision: which groups a replay can
 * rebuild, and where a recovery to a target group or time starts.
 *
 * A replay starts from a base and applies the journal's groups after it:
 * - the empty image (group 0), when the journal still holds group 1 with all
 *   its updates;
 * - a snapshot of the secondary (a pinned group S), seeded into the target
 *   schema without reading Kafka.
 * From a base B the groups B+1 .. newest can be applied when the journal's
 * oldest recoverable group (the oldest retained marker whose updates are
 * all retained: every later one is too) is at most B+1: B is then a
 * continuous base. A snapshot older than that (or from before a resync
 * rebased the secondary on a new journal) is still a recoverable point on
 * its own (its own group, nothing after it).
 *
 * The window is the span [oldest continuous base's first group .. the
 * journal's newest group] plus those isolated snapshot points. A target is
 * planned from the newest base at or before it, so a snapshot shortens the
 * replay; a target outside the window is refused with XRC_USAGE naming it.
 */
import { XrcError } from '../lib/errors.js'

/** A group: seq and consistency time (microseconds). */
export interface GroupMark {
  seq: number
  time: number
}

/** A snapshot a replay can start from: its name and the group it pins. */
export interface SnapshotBase {
  name: string
  groupSeq: number
  groupTime: number
}

/** What Kafka holds: the oldest recoverable group and the newest group; undefined when the journal has none. */
export interface JournalReach {
  recoverableFrom: GroupMark | undefined
  newest: GroupMark | undefined
}

/** The groups a replay can rebuild (see the file comment). */
export interface RecoveryWindow {
  /** The continuous span, with the base its first group is reached from; undefined when there is none. */
  span: { from: GroupMark; to: GroupMark; base: SnapshotBase | 'empty' } | undefined
  /** Snapshots the journal does not continue from: each recoverable at its own group only. */
  points: SnapshotBase[]
}

/** A recovery target: a group seq, or a consistency time (the last group at or before it). */
export type RecoveryTarget = { group: number } | { time: number }

/** Where a recovery starts: the empty image, or a snapshot seeded into the target. */
export type RecoveryBase = { kind: 'empty' } | { kind: 'snapshot'; snapshot: SnapshotBase }

const markOf = (s: SnapshotBase): GroupMark => ({ seq: s.groupSeq, time: s.groupTime })

/**
 * Whether the journal continues from base `b`: every group after it is
 * recoverable. Within one journal seq and time grow together, so a base
 * whose seq and time disagree with the journal's (a snapshot taken before a
 * resync rebased the secondary on a new journal, whose groups count from 1
 * again) is not on this journal.
 */
function continuesFrom(journal: JournalReach, b: GroupMark): boolean {
  const { recoverableFrom: r, newest } = journal
  if (newest === undefined || r === undefined || r.seq > b.seq + 1) return false
  return b.seq <= newest.seq && b.time <= newest.time && b.seq >= r.seq === b.time >= r.time
}

const EMPTY: GroupMark = { seq: 0, time: Number.NEGATIVE_INFINITY }

/** The window a journal and a set of snapshots give (see the file comment). */
export function recoveryWindow(journal: JournalReach, snapshots: readonly SnapshotBase[]): RecoveryWindow {
  const bySeq = [...snapshots].sort((a, b) => a.groupSeq - b.groupSeq)
  const continuous = bySeq.filter((s) => continuesFrom(journal, markOf(s)))
  const { newest, recoverableFrom } = journal
  let span: RecoveryWindow['span']
  if (newest !== undefined && recoverableFrom !== undefined && continuesFrom(journal, EMPTY)) {
    span = { from: recoverableFrom, to: newest, base: 'empty' }
  } else if (newest !== undefined && continuous[0] !== undefined) {
    const base = continuous[0]
    span = { from: markOf(base), to: newest.seq >= base.groupSeq ? newest : markOf(base), base }
  }
  const points = bySeq.filter((s) => !continuesFrom(journal, markOf(s)))
  return { span, points }
}

/**
 * The base a recovery to `target` starts from: the newest continuous base at
 * or before it, or an isolated snapshot at exactly the target. Throws
 * XRC_USAGE (reason 'targetOutsideWindow', naming the window) otherwise.
 */
export function planRecovery(
  journal: JournalReach,
  snapshots: readonly SnapshotBase[],
  target: RecoveryTarget,
): RecoveryBase {
  const window = recoveryWindow(journal, snapshots)
  const at = (s: SnapshotBase): number => ('group' in target ? s.groupSeq : s.groupTime)
  const goal = 'group' in target ? target.group : target.time
  const { span } = window
  const inSpan =
    span !== undefined && ('group' in target ? goal >= span.from.seq && goal <= span.to.seq : goal >= span.from.time)
  if (inSpan) {
    const bases = snapshots.filter((s) => continuesFrom(journal, markOf(s)) && at(s) <= goal)
    const newest = bases.sort((a, b) => b.groupSeq - a.groupSeq)[0]
    if (newest !== undefined) return { kind: 'snapshot', snapshot: newest }
    if (span.base === 'empty') return { kind: 'empty' }
  }
  const exact = window.points.find((s) => at(s) === goal)
  if (exact !== undefined) return { kind: 'snapshot', snapshot: exact }
  throw new XrcError('XRC_USAGE', {
    reason: 'targetOutsideWindow',
    target: 'group' in target ? `group ${target.group}` : `time ${target.time}`,
    window: describeWindow(window),
  })
}

/** The window in words, for errors and `xrc replay --window`. */
export function describeWindow(window: RecoveryWindow): string {
  const parts: string[] = []
  if (window.span !== undefined) {
    const { from, to, base } = window.span
    const via = base === 'empty' ? 'the journal from group 1' : `snapshot "${base.name}" and the journal`
    parts.push(`groups ${from.seq} to ${to.seq} (${via})`)
  }
  for (const p of window.points) parts.push(`group ${p.groupSeq} (snapshot "${p.name}" only)`)
  return parts.length === 0 ? 'no group is recoverable' : parts.join('; ')
}
