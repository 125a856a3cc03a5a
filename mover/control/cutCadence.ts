/**
 * When the mover cuts its next group, pure.
 *
 * Writes are cut as soon as they can be: once T covers a buffered write, the
 * next cut comes right after the previous one's journal write, no sooner than
 * mover.groupMinIntervalMs after the previous cut (a floor, so a busy stream
 * makes groups of a few ms each, not one per heartbeat). A group of
 * mover.groupMaxBytes ready to cut is cut at once. With no write to cut, T
 * still moves the secondary's consistency time (heartbeats): such a group is
 * cut every mover.groupIntervalMs, the longest spacing of groups.
 *
 * The control loop sleeps for `waitMs` and is woken when the intake makes a
 * write cuttable (mover/intake), so a write never waits out an idle interval.
 */
export class CutCadence {
  #lastCutAt = 0

  constructor(
    /** Longest spacing of cuts when nothing but time moved, ms. */
    readonly intervalMs: number,
    readonly maxBytes: number,
    /** Shortest spacing of cuts, ms. */
    readonly minIntervalMs = 0,
  ) {}

  /**
   * How long to wait (ms) before the next cut at time `now`: 0 when a full
   * group waits, until the floor when any write waits, until the interval
   * otherwise. `cuttableBytes(limit)` counts the bytes a cut would take now,
   * up to `limit`; it is asked only when a wait is still possible.
   */
  waitMs(now: number, cuttableBytes: (limit: number) => number): number {
    const sinceCut = now - this.#lastCutAt
    if (sinceCut >= this.intervalMs) return 0
    const bytes = cuttableBytes(this.maxBytes)
    if (bytes >= this.maxBytes) return 0
    if (bytes > 0) return Math.max(0, this.minIntervalMs - sinceCut)
    return this.intervalMs - sinceCut
  }

  /** A cut was made (or tried: the former had nothing past the last group) at `now`. */
  cutAt(now: number): void {
    this.#lastCutAt = now
  }
}
