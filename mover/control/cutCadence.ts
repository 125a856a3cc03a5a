/**
 * When the mover cuts its next group, pure. Cuts keep a fixed cadence: the
 * interval counts from the previous cut, not from the end of its journal
 * write, so a write waits at most mover.groupIntervalMs for its cut instead
 * of that plus a transaction (bench/: RPO, see BENCHMARKS.md). A group of
 * mover.groupMaxBytes ready to cut is cut at once.
 */
export class CutCadence {
  #lastCutAt = 0

  constructor(
    readonly intervalMs: number,
    readonly maxBytes: number,
  ) {}

  /**
   * How long to wait (ms) before the next cut at time `now`: 0 when the
   * interval since the last cut has passed or a full group waits.
   * `cuttableBytes` is asked only while the interval runs.
   */
  waitMs(now: number, cuttableBytes: () => number): number {
    const untilCut = this.#lastCutAt + this.intervalMs - now
    return untilCut > 0 && cuttableBytes() < this.maxBytes ? untilCut : 0
  }

  /** A cut was made (or tried: the former had nothing past the last group) at `now`. */
  cutAt(now: number): void {
    this.#lastCutAt = now
  }
}
