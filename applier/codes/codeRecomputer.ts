/**
 * The applier's background job that keeps the segment codes valid: it
 * recomputes codes whose valid flag an apply cleared (and those never
 * computed) at most at applier.codeRecomputeBytesPerSecond of segment
 * bytes, from a consistent read, and sets each valid unless its segment was
 * written meanwhile (segmentCodeStore.recompute). It never blocks an apply:
 * its read is a snapshot, and its one write waits at most for the apply
 * that holds a segment's row, then finds the generation moved on.
 * A failure (PostgreSQL away) is logged and the job tries again later.
 */
import type { Logger } from '../../lib/logger.js'
import { sleep } from '../../lib/sleep.js'
import type { SegmentCodes } from './segmentCodeStore.js'

export interface CodeRecomputerOptions {
  codes: SegmentCodes
  blockSize: number
  /** Segment bytes read per second at most; 0 = the job does not run. */
  bytesPerSecond: number
  logger: Logger
  /** How long it waits when every code is valid, or after a failure, ms. */
  idleMs?: number
}

/** Each pass reads about this long's worth of the rate (at least one segment). */
const PASS_SECONDS = 0.25

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
    const signal = this.#stop.signal
    while (!signal.aborted) {
      const started = Date.now()
      let waitMs: number
      try {
        const todo = await codes.toRecompute(perPass)
        if (todo.length === 0) {
          waitMs = idleMs
        } else {
          const { validated, bytes } = await codes.recompute(todo)
          this.#validated += validated
          waitMs = Math.max(0, (bytes / bytesPerSecond) * 1000 - (Date.now() - started))
        }
      } catch (err) {
        if (signal.aborted) return
        this.#log.warn({ err, retryInMs: idleMs }, 'recomputing segment codes failed; trying again')
        waitMs = idleMs
      }
      await sleep(waitMs, signal).catch(() => undefined)
    }
  }
}
