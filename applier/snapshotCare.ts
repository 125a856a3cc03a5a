/**
 * The applier's care of its snapshots, off the apply path: retention
 * (applier.snapshots.maxCount / maxAgeMs) run after a commit at most once
 * per RETIRE_EVERY_MS, in the background, and the snapshots' space for the
 * metrics, read at most once per SPACE_EVERY_MS. Retire deletes in one
 * transaction under the control-row lock (store/snapshots.ts), so a crash
 * leaves each snapshot whole or gone; a failure is logged and tried again at
 * a later commit, never fatal to the applier.
 */
import type { Logger } from '../lib/logger.js'
import type { RetentionLimits, Snapshots, SnapshotSpace } from './store/index.js'

/** Least time between two retention runs, ms. */
export const RETIRE_EVERY_MS = 5000
/** How long the space read for a scrape is reused, ms. */
export const SPACE_EVERY_MS = 5000

export interface SnapshotCareOptions {
  snapshots: Snapshots
  /** applier.snapshots: no limit set, no retention runs. */
  limits: { maxCount?: number | undefined; maxAgeMs?: number | undefined }
  logger: Logger
  /** Called with the number of snapshots each retention run deleted. */
  onRetired?: (count: number) => void
  now?: () => number
}

/** Retention and space of one applier's snapshots (see the file comment). */
export class SnapshotCare {
  readonly #o: SnapshotCareOptions
  readonly #limits: RetentionLimits | undefined
  readonly #now: () => number
  #lastRun = Number.NEGATIVE_INFINITY
  #running: Promise<void> | undefined
  #space: { at: number; value: Promise<SnapshotSpace | undefined> } | undefined
  #stopped = false

  constructor(options: SnapshotCareOptions) {
    this.#o = options
    this.#now = options.now ?? Date.now
    const { maxCount, maxAgeMs } = options.limits
    this.#limits =
      maxCount === undefined && maxAgeMs === undefined
        ? undefined
        : {
            ...(maxCount !== undefined ? { maxCount } : {}),
            ...(maxAgeMs !== undefined ? { maxAgeMicros: maxAgeMs * 1000 } : {}),
          }
  }

  /** After a commit: starts a retention run unless one runs or ran less than RETIRE_EVERY_MS ago. */
  afterCommit(): void {
    if (this.#limits === undefined || this.#stopped || this.#running !== undefined) return
    if (this.#now() - this.#lastRun < RETIRE_EVERY_MS) return
    this.#lastRun = this.#now()
    this.#running = this.#retire(this.#limits).finally(() => {
      this.#running = undefined
    })
  }

  /** The snapshots' space, read at most every SPACE_EVERY_MS; undefined when it cannot be read. */
  space(): Promise<SnapshotSpace | undefined> {
    const now = this.#now()
    if (this.#space === undefined || now - this.#space.at >= SPACE_EVERY_MS) {
      const value = this.#o.snapshots.space().catch((err: unknown) => {
        this.#o.logger.debug({ err }, 'snapshot space not read')
        return undefined
      })
      this.#space = { at: now, value }
    }
    return this.#space.value
  }

  /** No more runs; waits for the one running (its transaction commits or rolls back as a whole). */
  async stop(): Promise<void> {
    this.#stopped = true
    await this.#running
  }

  async #retire(limits: RetentionLimits): Promise<void> {
    try {
      const retired = await this.#o.snapshots.retire(limits)
      if (retired.length > 0) {
        this.#space = undefined
        this.#o.onRetired?.(retired.length)
      }
    } catch (err) {
      this.#o.logger.warn({ err, ...limits }, 'snapshot retention failed; tried again after a later commit')
    }
  }
}
