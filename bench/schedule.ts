/**
 * The open-loop schedule that keeps latency figures honest. A closed-loop
 * writer (send, wait for the answer, send the next) slows down exactly when
 * the system stalls, so the stall hides in a handful of slow samples while
 * the writes that should have happened meanwhile are never measured
 * (coordinated omission). Here write i is *due* at `start + i / rate`
 * whatever happened before it, and every delay is measured from that due
 * time: a stall shows up in every write it held back.
 *
 * Pure code: no clock, no timers, so the arithmetic is tested on its own.
 */

/** A fixed-rate schedule of `count` writes starting at `startMs` (epoch ms). */
export interface OpenLoopSchedule {
  readonly startMs: number
  /** Writes per second. */
  readonly rate: number
  readonly count: number
  /** When write `i` is due (epoch ms). */
  dueAt(i: number): number
  /** How many writes are due by `nowMs`: the writer issues every one below it it has not issued yet. */
  dueBy(nowMs: number): number
}

/**
 * A schedule of `rate` writes per second for `durationMs`, starting at `startMs`. Throws RangeError on a rate or
 * duration that is not positive.
 */
export function openLoopSchedule(options: { startMs: number; rate: number; durationMs: number }): OpenLoopSchedule {
  const { startMs, rate, durationMs } = options
  if (!(rate > 0) || !Number.isFinite(rate))
    throw new RangeError(`rate must be a positive number of writes per second, got ${rate}`)
  if (!(durationMs > 0)) throw new RangeError(`durationMs must be positive, got ${durationMs}`)
  // at least one write, so a very low rate over a short phase still measures something
  const count = Math.max(1, Math.floor((rate * durationMs) / 1000))
  const interval = 1000 / rate
  return {
    startMs,
    rate,
    count,
    // multiply rather than accumulate, so a long schedule does not drift by rounding
    dueAt: (i) => startMs + i * interval,
    dueBy(nowMs) {
      if (nowMs < startMs) return 0
      return Math.min(count, Math.floor((nowMs - startMs) / interval) + 1)
    },
  }
}

/** Consistency groups as committed on the secondary, in commit order (group times strictly increase). */
export interface CommittedGroups {
  /** Consistency time T of each group, µs (session clock). */
  groupTime: Float64Array | readonly number[]
  /** When the group's transaction had committed, epoch ms. */
  commitMs: Float64Array | readonly number[]
}

/**
 * When each write reached the secondary: the commit of the first group whose
 * consistency time covers the write's time (a group holds every write with
 * time <= T). NaN for a write no committed group covers yet, or that failed
 * (time NaN).
 */
export function commitTimes(writeTimes: Float64Array | readonly number[], groups: CommittedGroups): Float64Array {
  const out = new Float64Array(writeTimes.length)
  const n = groups.groupTime.length
  for (let i = 0; i < writeTimes.length; i++) {
    const t = writeTimes[i] as number
    if (Number.isNaN(t)) {
      out[i] = Number.NaN
      continue
    }
    // first group with groupTime >= t (binary search; group times increase)
    let lo = 0
    let hi = n
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((groups.groupTime[mid] as number) < t) lo = mid + 1
      else hi = mid
    }
    out[i] = lo < n ? (groups.commitMs[lo] as number) : Number.NaN
  }
  return out
}
