/**
 * The applier's decisions around one group, with no I/O: where to start in
 * the journal, whether a group is applied or the stop time is reached first,
 * whether the run goes on after it, and what a group whose COMMIT outcome was
 * unknown turned out to be.
 */
import type { AppliedMark } from '../journal/index.js'
import type { ApplyOutcome } from '../store/index.js'

/** Where a start follows the journal from, or that the store already holds the stop time. */
export function startStep(
  lastApplied: AppliedMark | undefined,
  stopAtTime: number | undefined,
): { fromOffset: number; finished: boolean } {
  return {
    fromOffset: lastApplied ? lastApplied.journalOffset + 1 : 0,
    finished: stopAtTime !== undefined && lastApplied !== undefined && lastApplied.groupTime >= stopAtTime,
  }
}

/** Before a group: apply it, or stop (it is past the stop time; it stays unapplied). */
export function stepBefore(groupTime: number, stopAtTime: number | undefined): 'apply' | 'stop-time' {
  return stopAtTime !== undefined && groupTime > stopAtTime ? 'stop-time' : 'apply'
}

/** After a group: take the next one, or stop (the group reached the stop time: none after it can be <= T). */
export function stepAfter(groupTime: number, stopAtTime: number | undefined): 'next' | 'stop-time' {
  return stopAtTime !== undefined && groupTime >= stopAtTime ? 'stop-time' : 'next'
}

/**
 * The outcome to report. After an attempt whose COMMIT outcome was unknown,
 * a later attempt that finds the group in the control row ('duplicate')
 * means this applier committed it: it was applied, not found applied.
 */
export function settledOutcome(outcome: ApplyOutcome, commitWasUnknown: boolean): ApplyOutcome {
  return commitWasUnknown ? 'applied' : outcome
}
