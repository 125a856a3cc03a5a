/**
 * Measures the recovery point a mirror delivers: for every acknowledged
 * write, the delay from its acknowledgement to the commit, on the
 * secondary, of the consistency group that holds it. A group with time T
 * holds every write with time <= T, and groups commit in increasing T, so
 * each commit settles exactly the pending writes with time <= T.
 *
 * Pure (the caller passes the clock), so tests can drive it exactly.
 * Delays are kept in an HDR histogram (microsecond resolution, 3
 * significant digits), so percentiles cost no memory per write.
 */
import hdr from 'hdr-histogram-js'

/** Percentiles of the acknowledgement-to-commit delay, milliseconds. */
export interface RpoSummary {
  /** Writes whose group committed. */
  count: number
  p50Ms: number
  p90Ms: number
  p99Ms: number
  maxMs: number
}

export class RpoTracker {
  // min-heap of pending writes by session time
  private readonly times: number[] = []
  private readonly ackedAt: number[] = []
  private readonly histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  })

  /** A write with session time `time` (µs) was acknowledged at `atMs` (a monotonic clock, ms). */
  acked(time: number, atMs: number): void {
    this.times.push(time)
    this.ackedAt.push(atMs)
    this.siftUp(this.times.length - 1)
  }

  /**
   * The group with consistency time `groupTime` committed at `atMs`: settles every pending write with time <=
   * groupTime. Returns how many.
   */
  committed(groupTime: number, atMs: number): number {
    let settled = 0
    while (this.times.length > 0 && (this.times[0] as number) <= groupTime) {
      const delayMs = atMs - (this.ackedAt[0] as number)
      this.histogram.recordValue(Math.max(0, Math.round(delayMs * 1000)))
      this.pop()
      settled++
    }
    return settled
  }

  /** Acknowledged writes whose group has not committed yet. */
  pending(): number {
    return this.times.length
  }

  summary(): RpoSummary {
    const at = (p: number): number => round(this.histogram.getValueAtPercentile(p) / 1000)
    return {
      count: this.histogram.totalCount,
      p50Ms: at(50),
      p90Ms: at(90),
      p99Ms: at(99),
      maxMs: round(this.histogram.maxValue / 1000),
    }
  }

  private pop(): void {
    const lastTime = this.times.pop() as number
    const lastAt = this.ackedAt.pop() as number
    if (this.times.length === 0) return
    this.times[0] = lastTime
    this.ackedAt[0] = lastAt
    this.siftDown(0)
  }

  private swap(i: number, j: number): void {
    const t = this.times[i] as number
    this.times[i] = this.times[j] as number
    this.times[j] = t
    const a = this.ackedAt[i] as number
    this.ackedAt[i] = this.ackedAt[j] as number
    this.ackedAt[j] = a
  }

  private siftUp(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1
      if ((this.times[parent] as number) <= (this.times[i] as number)) return
      this.swap(i, parent)
      i = parent
    }
  }

  private siftDown(i: number): void {
    const n = this.times.length
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let smallest = i
      if (l < n && (this.times[l] as number) < (this.times[smallest] as number)) smallest = l
      if (r < n && (this.times[r] as number) < (this.times[smallest] as number)) smallest = r
      if (smallest === i) return
      this.swap(i, smallest)
      i = smallest
    }
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10
}
