/**
 * The applier's background job that keeps the segment codes valid: it
 * recomputes codes whose valid flag an apply cleared (and those never
 * computed) at most at applier.codeRecomputeBytesPerSecond of segment
 * bytes, from a consistent read, and sets each valid unless its segment was
 * written meanwhile (segmentCodeStore.recompute). It hashes only segments no
 * group wrote for applier.codeRecomputeQuietMs (quietSegments.ts): a segment
 * still being written would have its code invalidated before it was set. It
 * reads the invalid codes a window at a time, in (volume, segment) order, so
 * every one is looked at however many there are. It never blocks an apply:
 * its read is a snapshot, and its one write waits at most for the apply
 * that holds a segment's row, then finds the generation moved on.
 * A failure (PostgreSQL away) is logged and the job tries again later.
 */
import type { Logger } from '../../lib/logger.js'
import { sleep } from '../../lib/sleep.js'
import { QuietSegments } from './quietSegments.js'
import type { SegmentCodes, SegmentKey } from './segmentCodeStore.js'
import { UNWRITTEN_GENERATION } from './validFlags.js'

export interface CodeRecomputerOptions {
  codes: SegmentCodes
  blockSize: number
  /** Segment bytes read per second at most; 0 = the job does not run. */
  bytesPerSecond: number
  /** A segment is hashed only once no group wrote it for this long, ms. */
  quietMs: number
  logger: Logger
  /** How long it waits when every code is valid, or after a failure, ms. */
  idleMs?: number
}

/** Each pass reads about this long's worth of the rate (at least one segment). */
const PASS_SECONDS = 0.25
/** Invalid codes looked at per pass: this many times a pass's segments, at least SCAN_MIN. */
const SCAN_FACTOR = 16
const SCAN_MIN = 256
/** The pause before the next window of a scan that found nothing quiet in this one, ms. */
const SCAN_STEP_MS = 50

export class CodeRecomputer {
  readonly #o: CodeRecomputerOptions
  readonly #log: Logger
  readonly #stop = new AbortController()
  #running: Promise<void> | undefined
  #validated = 0

  constructor(options: CodeRecomputerOptions) {
    this.#o = options
    this.#log = options.logger.child({ component: 'code-recomputer' })
  }

  /** Codes set valid since start. */
  get validated(): number {
    return this.#validated
  }

  start(): void {
    if (this.#o.bytesPerSecond <= 0 || this.#running) return
    this.#running = this.#loop().catch((err: unknown) => {
      if (!this.#stop.signal.aborted) this.#log.error({ err }, 'code recomputer ended')
    })
  }

  async stop(): Promise<void> {
    this.#stop.abort()
    await this.#running
  }

  async #loop(): Promise<void> {
    const { codes, blockSize, bytesPerSecond } = this.#o
    const idleMs = this.#o.idleMs ?? 1000
    const segmentBytes = codes.segmentBlocks * blockSize
    const perPass = Math.max(1, Math.floor((bytesPerSecond * PASS_SECONDS) / segmentBytes))
    const scan = Math.max(SCAN_MIN, perPass * SCAN_FACTOR)
    const quiet = new QuietSegments(this.#o.quietMs)
    // where the scan of the invalid codes goes on from (undefined: from the start)
    let after: SegmentKey | undefined
    const signal = this.#stop.signal
    while (!signal.aborted) {
      const started = Date.now()
      let waitMs: number
      try {
        const candidates = await codes.toRecompute(scan, after)
        const todo = quiet.pick(candidates, Date.now(), perPass)
        // a window that gave a whole pass may hold more quiet segments: it is read again; else the scan moves on
        if (todo.length < perPass) {
          const invalid = candidates.filter((c) => c.generation > UNWRITTEN_GENERATION)
          const last = invalid.at(-1)
          after =
            invalid.length < scan || last === undefined ? undefined : { volumeId: last.volumeId, segment: last.segment }
          if (after === undefined) quiet.endScan()
        }
        if (todo.length === 0) {
          waitMs = after === undefined ? idleMs : SCAN_STEP_MS
        } else {
          const { validated, bytes } = await codes.recompute(todo)
          quiet.done(todo)
          this.#validated += validated
          waitMs = Math.max(0, (bytes / bytesPerSecond) * 1000 - (Date.now() - started))
        }
      } catch (err) {
        if (signal.aborted) return
        this.#log.warn({ err, retryInMs: idleMs }, 'recomputing segment codes failed; trying again')
        after = undefined
        waitMs = idleMs
      }
      await sleep(waitMs, signal).catch(() => undefined)
    }
  }
}
