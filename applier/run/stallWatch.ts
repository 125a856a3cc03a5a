/**
 * The applier's watchdog, pure: whether it is stalled (the journal holds
 * groups it has not applied, and it has applied none for applier.stallAfterMs),
 * and the recovery point now. The applier observes its journal lag every
 * so often and tells of each group applied; /health answers 503 while
 * stalled, which catches what no error reports: a paused process, a
 * transaction that waits on a lock another applier holds, a hung server.
 *
 * Progress is a group applied, the journal found caught up (nothing to
 * apply), or the delay of a delayed secondary holding the next group (it is
 * meant to wait). Time is passed in (ms since the epoch).
 */

/** A stall as /health and status show it. */
export interface Stall {
  /** Since when nothing was applied while groups waited (ms since the epoch). */
  since: number
  /** Journal records not applied when last observed. */
  lag: number
}

export class StallWatch {
  readonly stallAfterMs: number
  #progressAt: number
  #lag: number | undefined

  constructor(stallAfterMs: number, now: number) {
    this.stallAfterMs = stallAfterMs
    this.#progressAt = now
  }

  /** The journal lag observed at `now` (undefined: not known, Kafka did not answer; the last one stays). */
  observe(lag: number | undefined, now: number, delayHolding = false): void {
    if (lag !== undefined) this.#lag = lag
    if (lag === 0 || delayHolding) this.#progressAt = Math.max(this.#progressAt, now)
  }

  /** A group was applied (or found applied) at `now`. */
  applied(now: number): void {
    this.#progressAt = Math.max(this.#progressAt, now)
  }

  /** The lag last observed. */
  get lag(): number | undefined {
    return this.#lag
  }

  /** The stall at `now`, if the applier is stalled. */
  stall(now: number): Stall | undefined {
    const lag = this.#lag
    if (lag === undefined || lag <= 0 || now - this.#progressAt < this.stallAfterMs) return undefined
    return { since: this.#progressAt, lag }
  }
}

/**
 * The recovery point now, ms: while the journal holds groups not applied, the wall clock minus the consistency
 * time of the last group applied (it grows during a stall); undefined when caught up (the RPO is the one
 * measured when the last group was applied) or before any group.
 */
export function rpoNowMs(
  lastGroupTimeUs: number | undefined,
  lag: number | undefined,
  now: number,
): number | undefined {
  if (lastGroupTimeUs === undefined || lag === undefined || lag <= 0) return undefined
  return now - lastGroupTimeUs / 1000
}

/** The stall as /health says it. */
export function stallReason(stall: Stall, now: number): string {
  const seconds = Math.round((now - stall.since) / 1000)
  return (
    `stalled: no group applied for ${seconds} s while the journal holds ${stall.lag} records not applied ` +
    '(applier.stallAfterMs; a paused process, a lock held elsewhere, a hung server)'
  )
}
