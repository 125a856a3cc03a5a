/**
 * The delayed secondary's rule (applier.delayMs), with no I/O: a group may
 * be applied once its consistency time T is at least `delayMs` old by the
 * wall clock, and not before.
 *
 * T is session-clock microseconds since the epoch (a hybrid logical clock
 * that follows the primary's wall clock), compared with wall milliseconds as
 * the RPO is (Date.now() - T / 1000). A session clock ahead of this host's
 * clock only lengthens the wait by the skew; it never lets a group apply
 * early by more than the skew behind.
 */

/** What to do with the head group now: apply it, or wait `ms` (> 0) and ask again. */
export type DelayStep = { do: 'apply' } | { do: 'wait'; ms: number }

/** Whether the group of time `groupTime` (µs) may be applied at wall time `nowMs` under `delayMs`. */
export function delayStep(groupTime: number, delayMs: number, nowMs: number): DelayStep {
  if (delayMs <= 0) return { do: 'apply' }
  const wait = Math.ceil(groupTime / 1000 + delayMs - nowMs)
  return wait > 0 ? { do: 'wait', ms: wait } : { do: 'apply' }
}

/**
 * The newest group time (µs) the delay lets apply at `nowMs`: a group applies
 * exactly when its T is at or below it (as {@link delayStep} says). Undefined
 * without a delay. Bounds a batch as a stop time does.
 */
export function releasedUpTo(delayMs: number, nowMs: number): number | undefined {
  return delayMs > 0 ? Math.floor((nowMs - delayMs) * 1000) : undefined
}

/** The tighter of two optional upper bounds on group time. */
export function tighterBound(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  return Math.min(a, b)
}

/** What the applier holds back for the delay, for status, /health and metrics. */
export interface DelayHeld {
  /** applier.delayMs. */
  delayMs: number
  /** Groups read from the journal and waiting for their time (the rest of the backlog stays in Kafka). */
  groupsWaiting: number
  /** Age of the oldest group waiting, ms (wall clock minus its T); absent when none waits. */
  oldestWaitingMs?: number
}

/** The delay held at `nowMs` while the group of time `oldestTime` (µs) heads `groupsWaiting` groups. */
export function delayHeld(
  delayMs: number,
  waiting: { oldestTime: number; groups: number } | undefined,
  nowMs: number,
): DelayHeld {
  if (waiting === undefined) return { delayMs, groupsWaiting: 0 }
  return {
    delayMs,
    groupsWaiting: waiting.groups,
    oldestWaitingMs: Math.max(0, Math.round(nowMs - waiting.oldestTime / 1000)),
  }
}
