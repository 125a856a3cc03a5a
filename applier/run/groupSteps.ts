/**
 * The applier's decisions around one group, with no I/O: where to start in
 * the journal, whether a group is applied or the stop point is reached
 * first, whether the run goes on after it, and what a group whose COMMIT
 * outcome was unknown turned out to be.
 *
 * The stop point (replay, recovery to a past group) is a consistency time T
 * (apply the groups with time <= T), a group seq N (apply the groups up to
 * N), or both (whichever comes first). Groups arrive in seq and time order,
 * so a group that reaches either one is the last applied.
 */
import type { AppliedMark } from '../journal/index.js'
import type { ApplyOutcome } from '../store/index.js'

/** Where a run stops: after the last group with time <= `time`, and/or after group `group`. */
export interface StopAt {
  time?: number | undefined
  group?: number | undefined
}

/** What the decisions look at of a group. */
export interface GroupPoint {
  groupSeq: number
  groupTime: number
}

/** Where a start follows the journal from, or that the store already holds the stop point. */
export function startStep(
  lastApplied: AppliedMark | undefined,
  stopAt: StopAt,
): { fromOffset: number; finished: boolean } {
  return {
    fromOffset: lastApplied ? lastApplied.journalOffset + 1 : 0,
    finished: lastApplied !== undefined && stepAfter(lastApplied, stopAt) === 'stop-time',
  }
}

/** Before a group: apply it, or stop (it is past the stop point; it stays unapplied). */
export function stepBefore(group: GroupPoint, stopAt: StopAt): 'apply' | 'stop-time' {
  if (stopAt.time !== undefined && group.groupTime > stopAt.time) return 'stop-time'
  if (stopAt.group !== undefined && group.groupSeq > stopAt.group) return 'stop-time'
  return 'apply'
}

/** After a group: take the next one, or stop (the group reached the stop point: none after it can be within). */
export function stepAfter(group: GroupPoint, stopAt: StopAt): 'next' | 'stop-time' {
  if (stopAt.time !== undefined && group.groupTime >= stopAt.time) return 'stop-time'
  if (stopAt.group !== undefined && group.groupSeq >= stopAt.group) return 'stop-time'
  return 'next'
}

/**
 * The outcome to report. After an attempt whose COMMIT outcome was unknown,
 * a later attempt that finds the group in the control row ('duplicate')
 * means this applier committed it: it was applied, not found applied.
 */
export function settledOutcome(outcome: ApplyOutcome, commitWasUnknown: boolean): ApplyOutcome {
  return commitWasUnknown ? 'applied' : outcome
}
