/**
 * The snapshot rules, with no database: what the store keeps and frees, and
 * when a pending snapshot pins a group. The store (snapshotApply.ts,
 * snapshots.ts) reads and writes around them; the property test beside this
 * file checks them against a model that keeps a whole image per group.
 *
 * Versions are ordered by group TIME, not group seq: a rebase on a new
 * journal (applier/resync) numbers its groups from 1 again, but their times
 * only grow. A snapshot pins a group (seq, time, journal offset); a block
 * version (the row a group wrote) is visible to a snapshot pinned at time P
 * iff   version.groupTime <= P < version.supersededTime   (supersededTime:
 * the time of the group that replaced it; the current row is superseded by
 * nothing).
 */
import { XrcError } from '../../lib/errors.js'

/** A group, as far as the rules need it. */
export interface GroupPoint {
  groupSeq: number
  groupTime: number
}

/** A kept (superseded) block version's lifetime. */
export interface VersionSpan {
  groupTime: number
  supersededTime: number
}

/** What a snapshot asks for: a group or a time ahead of the store (pending), or neither (the newest group now). */
export interface SnapshotTarget {
  atGroup?: number
  atTime?: number
}

/** A pending snapshot's target, as the apply transaction reads it. */
export interface PendingSnapshot extends SnapshotTarget {
  id: number
  name: string
}

/** Whether the image as of a group is consistent, as the rules need it. */
export type ImageConsistency = 'consistent' | 'inconsistent' | 'rolled-back'

/**
 * The newest pin among active snapshots' group times, undefined when none.
 * Every pin is of a group already applied, so all are below any group
 * being applied now.
 */
export function newestPin(pinTimes: readonly number[]): number | undefined {
  return pinTimes.length === 0 ? undefined : Math.max(...pinTimes)
}

/**
 * Copy on write: the current row of a block, written at `rowTime`, that a
 * new group replaces is kept iff some active snapshot sees it. Since every
 * pin is below the new group's time, that is iff rowTime <= the newest pin.
 * No snapshot: nothing is kept.
 */
export function keepsReplacedVersion(rowTime: number, newestPinTime: number | undefined): boolean {
  return newestPinTime !== undefined && rowTime <= newestPinTime
}

/** Whether a kept version is part of the image pinned at `pinTime`. */
export function isVisibleTo(v: VersionSpan, pinTime: number): boolean {
  return v.groupTime <= pinTime && pinTime < v.supersededTime
}

/** Whether any of `pinTimes` sees the version: a kept version no pin sees is garbage. */
export function isNeeded(v: VersionSpan, pinTimes: readonly number[]): boolean {
  return pinTimes.some((p) => isVisibleTo(v, p))
}

/**
 * The versions deleting the snapshot pinned at `deletedPin` frees: those it
 * sees that none of the `remainingPins` (every other active snapshot) sees.
 */
export function versionsFreedByDelete<V extends VersionSpan>(
  versions: readonly V[],
  deletedPin: number,
  remainingPins: readonly number[],
): V[] {
  return versions.filter((v) => isVisibleTo(v, deletedPin) && !isNeeded(v, remainingPins))
}

/**
 * Whether a pending snapshot pins `last` (the newest applied group) now.
 * Only a consistent image is pinned: while a resync is applied the snapshot
 * waits for the first consistent group from its target on. At a group N:
 * once N is applied (last.seq >= N). At a time T: the image as of T is the
 * newest group with time <= T, known once `last` reaches T, or once the
 * `next` group to be written is after T (then `last` is that group).
 */
export function pinsNow(
  target: SnapshotTarget,
  last: GroupPoint | undefined,
  image: ImageConsistency,
  next?: { groupTime: number },
): boolean {
  if (last === undefined || image === 'inconsistent') return false
  if (target.atGroup !== undefined) return last.groupSeq >= target.atGroup
  if (target.atTime !== undefined)
    return last.groupTime >= target.atTime || (next !== undefined && next.groupTime > target.atTime)
  return true
}

/** The pending snapshots that pin `last` now (see pinsNow). */
export function snapshotsToActivate<P extends SnapshotTarget>(
  pending: readonly P[],
  last: GroupPoint | undefined,
  image: ImageConsistency,
  next?: { groupTime: number },
): P[] {
  return pending.filter((p) => pinsNow(p, last, image, next))
}

/** Names a diff takes for something other than a snapshot. */
export const LIVE_IMAGE = 'live'

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/

/** How the snapshot a drill pins its group with is named (applier/drill: drill:<drill>). */
export const DRILL_SNAPSHOT_PREFIX = 'drill:'

/**
 * Whether a snapshot is a drill's own: it lives and dies with the drill (xrc drill stop), so retention passes it
 * by and neither `xrc snapshot create` nor `delete` takes its name.
 */
export function isDrillSnapshot(name: string): boolean {
  return name.startsWith(DRILL_SNAPSHOT_PREFIX)
}

/** Throws XRC_USAGE unless `name` can name a snapshot made by `xrc snapshot create`. */
export function checkSnapshotName(name: string): void {
  if (!NAME_PATTERN.test(name)) throw new XrcError('XRC_USAGE', { reason: 'snapshotName', name })
  if (name === LIVE_IMAGE) throw new XrcError('XRC_USAGE', { reason: 'snapshotNameReserved', name })
  if (isDrillSnapshot(name)) throw new XrcError('XRC_USAGE', { reason: 'snapshotOfDrill', name })
}

/** The name a snapshot gets when none is given: the group it pins, or its target. */
export function defaultSnapshotName(target: SnapshotTarget, last: GroupPoint | undefined): string {
  if (target.atGroup !== undefined) return `at-group-${target.atGroup}`
  if (target.atTime !== undefined) return `at-time-${target.atTime}`
  return `group-${last?.groupSeq ?? 0}`
}

/**
 * Checks a snapshot request against the store as of its newest applied
 * group `last` and its image: XRC_USAGE for a malformed target, two
 * targets, a target not ahead of `last`, or "now" on a store that applied
 * nothing; XRC_CONFLICT for "now" while the image is inconsistent
 * (`fallback`: the last consistent group). A target ahead is accepted
 * whatever the image: it waits for a consistent group.
 */
export function checkSnapshotTarget(
  target: SnapshotTarget,
  last: GroupPoint | undefined,
  image: ImageConsistency,
  ctx: { session: string; fallback?: GroupPoint },
): void {
  const { atGroup, atTime } = target
  if (atGroup !== undefined && atTime !== undefined)
    throw new XrcError('XRC_USAGE', { reason: 'snapshotTwoTargets', atGroup, atTime })
  for (const [what, value] of [
    ['group', atGroup],
    ['time', atTime],
  ] as const) {
    if (value !== undefined && (!Number.isSafeInteger(value) || value <= 0))
      throw new XrcError('XRC_USAGE', { reason: 'snapshotBadTarget', what, value })
  }
  const ahead = last === undefined || (atGroup !== undefined ? atGroup > last.groupSeq : (atTime ?? 0) > last.groupTime)
  if (atGroup !== undefined || atTime !== undefined) {
    if (ahead) return
    const [what, value] = atGroup !== undefined ? ['group', atGroup] : ['time', atTime ?? 0]
    const { groupSeq, groupTime } = last as GroupPoint
    throw new XrcError('XRC_USAGE', {
      reason: 'snapshotTargetPassed',
      what,
      value,
      session: ctx.session,
      groupSeq,
      groupTime,
    })
  }
  // inconsistent first: after a rebase the control row is at group 0 but the image is the old journal's
  if (image === 'inconsistent') {
    const groupSeq = ctx.fallback?.groupSeq ?? 0
    throw new XrcError('XRC_CONFLICT', { reason: 'snapshotWhileInconsistent', session: ctx.session, groupSeq })
  }
  if (last === undefined) throw new XrcError('XRC_USAGE', { reason: 'snapshotNothingApplied', session: ctx.session })
}

/** Limits on the active snapshots a store keeps. */
export interface RetentionLimits {
  /** Keep at most this many active snapshots: the newest (by group time). */
  maxCount?: number
  /** Delete active snapshots whose image (group time) is older than this, in microseconds of the session clock. */
  maxAgeMicros?: number
}

/** An active snapshot as retention sees it. */
export interface RetainedSnapshot {
  name: string
  groupTime: number
}

/**
 * The active snapshots `limits` delete at session time `nowMicros`: beyond
 * the newest maxCount, and older than maxAgeMicros; oldest first. Pending
 * snapshots hold nothing and are never retired. XRC_USAGE for a limit that
 * is not a positive integer, or no limit at all.
 */
export function snapshotsToRetire(
  active: readonly RetainedSnapshot[],
  limits: RetentionLimits,
  nowMicros: number,
): string[] {
  if (limits.maxCount === undefined && limits.maxAgeMicros === undefined)
    throw new XrcError('XRC_USAGE', { reason: 'noRetentionLimit' })
  for (const [limit, value] of [
    ['count', limits.maxCount],
    ['age', limits.maxAgeMicros],
  ] as const) {
    if (value !== undefined && (!Number.isSafeInteger(value) || value <= 0))
      throw new XrcError('XRC_USAGE', { reason: 'retentionLimit', limit, value })
  }
  const newestFirst = [...active].sort((a, b) => b.groupTime - a.groupTime || a.name.localeCompare(b.name))
  const retired = newestFirst.filter(
    (s, i) =>
      (limits.maxCount !== undefined && i >= limits.maxCount) ||
      (limits.maxAgeMicros !== undefined && nowMicros - s.groupTime > limits.maxAgeMicros),
  )
  return retired.reverse().map((s) => s.name)
}

/** A run of consecutive blocks, first..last inclusive. */
export interface BlockRange {
  first: number
  last: number
}

/** Increasing block numbers as runs of consecutive blocks. */
export function blockRanges(blocks: readonly number[]): BlockRange[] {
  const ranges: BlockRange[] = []
  for (const b of blocks) {
    const run = ranges[ranges.length - 1]
    if (run !== undefined && b === run.last + 1) run.last = b
    else ranges.push({ first: b, last: b })
  }
  return ranges
}
