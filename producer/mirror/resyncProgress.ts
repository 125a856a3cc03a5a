/**
 * A resync's progress as status and metrics show it: blocks marked when it
 * began, sent, left, the rate over the last seconds and the time to go.
 */

/** Resync progress: what is left, how fast it goes, when it ends. */
export interface ResyncProgress {
  epoch: number
  startedAt: string
  /** Blocks marked when the resync began (more may be marked by a suspension during it). */
  blocksTotal: number
  blocksRemaining: number
  blocksSent: number
  /** Bytes of RESYNC records Kafka acknowledged, headers included. */
  bytesSent: number
  /** Copies dropped because a newer host write carried the block (resyncOrdering.ts). */
  staleCopies: number
  blocksPerSecond: number
  /** Seconds to go at the current rate; undefined before a rate is known. */
  etaSeconds: number | undefined
  /** Once every mark is sent: E, the secondary is consistent again once it applies a group at or after it. */
  endTime?: number
}

/** How far back the rate looks, ms. */
const RATE_WINDOW_MS = 5000

/** Counts one resync epoch; `snapshot` gives the progress with its rate and ETA. */
export class ProgressCounter {
  private readonly startedAt = new Date().toISOString()
  private sent = 0
  private bytes = 0
  private end: number | undefined
  private readonly window: { at: number; sent: number }[] = [{ at: Date.now(), sent: 0 }]

  constructor(
    readonly epoch: number,
    private readonly total: number,
  ) {}

  blocksSent(blocks: number): void {
    this.sent += blocks
    this.window.push({ at: Date.now(), sent: this.sent })
    while (this.window.length > 2 && (this.window[0] as { at: number }).at < Date.now() - RATE_WINDOW_MS)
      this.window.shift()
  }

  bytesSent(bytes: number): void {
    this.bytes += bytes
  }

  ended(endTime: number): void {
    this.end = endTime
  }

  /** The progress now, given the blocks still marked (0 once ended) and the copies dropped so far. */
  snapshot(remaining: number, staleCopies: number): ResyncProgress {
    const now = Date.now()
    const first = this.window[0] as { at: number; sent: number }
    const rate = now > first.at ? ((this.sent - first.sent) * 1000) / (now - first.at) : 0
    const left = this.end === undefined ? Math.max(0, remaining) : 0
    return {
      epoch: this.epoch,
      startedAt: this.startedAt,
      blocksTotal: this.total,
      blocksRemaining: left,
      blocksSent: this.sent,
      bytesSent: this.bytes,
      staleCopies,
      blocksPerSecond: Math.round(rate * 10) / 10,
      etaSeconds: rate > 0 ? Math.ceil(left / rate) : left === 0 ? 0 : undefined,
      ...(this.end !== undefined ? { endTime: this.end } : {}),
    }
  }
}
