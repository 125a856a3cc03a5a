/**
 * One group into the store, with the retries PostgreSQL failing calls for
 * (a restart, a dropped connection: lib/retry.ts, capped exponential backoff
 * with jitter, bounded attempts), then its metrics and log line. What the
 * retries cannot get past is thrown: the applier halts on it.
 */
import { isXrcError } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import { retry } from '../../lib/retry.js'
import type { ApplierMetrics } from '../applierMetrics.js'
import type { AssembledGroup } from '../journal/index.js'
import type { ApplyOutcome, BlockStore } from '../store/index.js'
import { settledOutcome } from './groupSteps.js'

/** Attempts for one group when PostgreSQL fails (a restart, a dropped connection); then the applier halts. */
export const APPLY_RETRY = { attempts: 8, initialDelayMs: 250, maxDelayMs: 8000 } as const

export class GroupApplier {
  readonly #store: BlockStore
  readonly #metrics: ApplierMetrics
  readonly #log: Logger

  constructor(store: BlockStore, metrics: ApplierMetrics, log: Logger) {
    this.#store = store
    this.#metrics = metrics
    this.#log = log
  }

  /**
   * Applies the group, retrying what is retriable until `signal` aborts (a
   * stop: the backoff ends at once and the abort reason is thrown). Throws
   * the last error when the attempts run out or one is not retriable.
   */
  async apply({ group, lastOffset }: AssembledGroup, signal: AbortSignal): Promise<ApplyOutcome> {
    // set when a COMMIT of this group may have landed: its next attempt reads the control row, and finding
    // the group there means this applier committed it (not that someone else had)
    let commitUnknown = false
    const outcome = await retry(() => this.#store.applyGroup(group, lastOffset), {
      ...APPLY_RETRY,
      signal,
      onRetry: (err, attempt, delayMs) => {
        if (isXrcError(err, 'XRC_COMMIT_UNKNOWN')) commitUnknown = true
        this.#log.warn(
          { err, attempt, delayMs, groupSeq: group.groupSeq, offset: lastOffset },
          'apply failed; retrying',
        )
      },
    })
    if (commitUnknown) {
      const committed = outcome === 'duplicate'
      this.#log.warn(
        { groupSeq: group.groupSeq, offset: lastOffset, committed },
        `the outcome of group ${group.groupSeq}'s COMMIT was unknown; the control table shows it ` +
          (committed ? 'committed: it is not applied again' : 'did not commit: it was applied now'),
      )
    }
    return settledOutcome(outcome, commitUnknown)
  }

  /** Counts the group in the metrics and the log; `seconds` is how long its apply took. */
  record({ group, lastOffset }: AssembledGroup, outcome: ApplyOutcome, seconds: number): void {
    const fields = { groupSeq: group.groupSeq, groupTime: group.groupTime, offset: lastOffset }
    const logged = { ...fields, updates: group.updates.length }
    if (outcome === 'duplicate') {
      this.#metrics.duplicateGroups.inc()
      this.#log.info(logged, 'group already applied: skipped')
      return
    }
    const m = this.#metrics
    m.groupsApplied.inc()
    m.blocksApplied.inc(group.updates.length)
    m.bytesApplied.inc(group.updates.reduce((n, u) => n + u.data.length, 0))
    m.applySeconds.observe(seconds)
    m.consistencyTime.set(group.groupTime / 1e6)
    const rpoMs = Date.now() - group.groupTime / 1000
    m.rpoMs.set(rpoMs)
    m.rpoSeconds.observe(Math.max(0, rpoMs) / 1000)
    this.#log.debug({ ...logged, ms: Math.round(seconds * 1000) }, 'group applied')
  }
}
