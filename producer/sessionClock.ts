/**
 * The session clock (the patents' common system timer): a hybrid logical
 * clock in microseconds since the epoch, shared by every controller of a
 * process.
 *
 * - tick() = max(physical now, last + 1): strictly increasing, close to
 *   wall time while writes arrive slower than one per microsecond, and never
 *   backwards when the wall clock steps back.
 * - observe(t) takes a causal token: the time of a write the caller saw
 *   acknowledged (maybe by another process). Every later tick exceeds it, so
 *   a dependent write gets a later time on whatever controller it lands.
 * - advanceTo(t) seeds the clock at start-up from the controllers' recovered
 *   times (their last write and their heartbeat ceiling), so times never go
 *   backwards across restarts either.
 *
 * Pure: the physical clock is injected, so properties are tested with any
 * sequence of physical readings.
 */
import { XrcError } from '../lib/errors.js'

/** Physical time in microseconds since the epoch (millisecond resolution; the logical part fills the rest). */
export function wallMicros(): number {
  return Date.now() * 1000
}

/** Default bound on how far a causal token may lead this clock's physical time: one minute. */
export const DEFAULT_MAX_AHEAD_US = 60_000_000

export interface SessionClockOptions {
  /** Physical clock, microseconds since the epoch. Default {@link wallMicros}. */
  now?: () => number
  /** Lowest time to start above (recovered state). Default 0. */
  seed?: number
  /**
   * observe() rejects a token further than this ahead of the physical clock:
   * one wild token would otherwise drag every later time of the session with it.
   */
  maxAheadUs?: number
}

export interface SessionClock {
  /** A fresh time, strictly greater than every time this clock issued, observed or was advanced to. */
  tick(): number
  /**
   * Records a causal token so that every later tick() exceeds `t`.
   * Throws XRC_INVALID_RECORD when `t` is not a non-negative safe integer or
   * leads the physical clock by more than `maxAheadUs`.
   */
  observe(t: number): void
  /** Like observe() without the lead bound: for times this session issued itself (recovery). */
  advanceTo(t: number): void
  /** The greatest time issued, observed or advanced to so far (0 when none). */
  last(): number
}

export function createSessionClock(options: SessionClockOptions = {}): SessionClock {
  const now = options.now ?? wallMicros
  const maxAhead = options.maxAheadUs ?? DEFAULT_MAX_AHEAD_US
  let last = 0

  function checkTime(t: number, what: string): void {
    if (!Number.isSafeInteger(t) || t < 0)
      throw new XrcError('XRC_INVALID_RECORD', { reason: 'notMicroseconds', what, time: t })
  }

  const clock: SessionClock = {
    tick() {
      const physical = Math.floor(now())
      last = physical > last ? physical : last + 1
      return last
    },
    observe(t) {
      checkTime(t, 'causal time')
      const lead = t - Math.floor(now())
      if (lead > maxAhead) {
        throw new XrcError('XRC_INVALID_RECORD', {
          reason: 'timeAhead',
          time: t,
          leadSeconds: (lead / 1e6).toFixed(3),
          maxAheadSeconds: maxAhead / 1e6,
        })
      }
      if (t > last) last = t
    },
    advanceTo(t) {
      checkTime(t, 'recovered time')
      if (t > last) last = t
    },
    last: () => last,
  }
  if (options.seed !== undefined) clock.advanceTo(options.seed)
  return clock
}
