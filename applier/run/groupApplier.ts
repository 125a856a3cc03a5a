/**
 * Groups into the store, one transaction per batch of consecutive ready
 * groups, with the retries PostgreSQL failing calls for (a restart, a
 * dropped connection, a lock or statement timeout: lib/retry.ts, capped
 * exponential backoff with jitter, for as long as the outage lasts, which
 * status, /health and the metrics show meanwhile: lib/outage.ts), then each
 * group's metrics and log line. What no retry mends (an SQLSTATE of a fault,
 * an XrcError that is not retriable) is returned with the index of the
 * group it concerns: the applier halts on it.
 *
 * - A retriable failure retries the whole batch. After a COMMIT whose
 *   outcome was unknown, the next attempt reads the control row under lock:
 *   the groups at or below it are duplicates, which means this applier
 *   committed them (settledOutcome).
 * - A batch of several groups that fails for a reason no retry helps (a
 *   gap, an update the store cannot hold, a rolled-back image) is applied
 *   again one group at a time, so the groups before the failing one commit
 *   and the halt names the group, exactly as when each group had its own
 *   transaction.
 */
import { isXrcError } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import { outageSource, type OutageWatch } from '../../lib/outage.js'
import type { OutageMetrics } from '../../lib/outageMetrics.js'
import { isTransientPostgresError } from '../../lib/postgres.js'
import { retry } from '../../lib/retry.js'
import type { ApplierMetrics } from '../applierMetrics.js'
import type { AssembledGroup } from '../journal/index.js'
import type { ApplyOutcome, BlockStore } from '../store/index.js'
import { settledOutcome } from './groupSteps.js'

/**
 * The backoff of a transaction PostgreSQL failed (a restart, a dropped connection): no bound on the attempts,
 * an outage is ridden out until it ends or the applier is stopped.
 */
export const APPLY_RETRY = { attempts: Number.POSITIVE_INFINITY, initialDelayMs: 250, maxDelayMs: 8000 } as const

/** Where the applier's outage is kept and counted. */
export interface OutageReport {
  watch: OutageWatch
  metrics: OutageMetrics
}

/** How long a batch took: its transaction (with its retries), and the wait for its updates before it. */
export interface ApplyTiming {
  seconds: number
  readMs: number
}

/** What a batch came to: an outcome per group committed, in order, and the failure that ended it, if any. */
export interface BatchResult {
  outcomes: ApplyOutcome[]
  failure?: { err: unknown; index: number }
}

export class GroupApplier {
  readonly #store: BlockStore
  readonly #metrics: ApplierMetrics
  readonly #log: Logger
  readonly #outage: OutageReport

  constructor(store: BlockStore, metrics: ApplierMetrics, log: Logger, outage: OutageReport) {
    this.#store = store
    this.#metrics = metrics
    this.#log = log
    this.#outage = outage
  }

  /**
   * Applies the group, retrying what is retriable until `signal` aborts (a
   * stop: the backoff ends at once and the abort reason is thrown). Throws
   * an error no retry mends.
   */
  async apply(assembled: AssembledGroup, signal: AbortSignal): Promise<ApplyOutcome> {
    const [outcome] = await this.#applyTogether([assembled], signal)
    return outcome as ApplyOutcome
  }

  /**
   * Applies the batch (consecutive groups, journal order) in one transaction
   * with retries; see the file comment for a failure. A stop (`signal`
   * aborting) is thrown: nothing of the batch is counted, and what did not
   * commit is read again on restart.
   */
  async applyBatch(batch: readonly AssembledGroup[], signal: AbortSignal): Promise<BatchResult> {
    try {
      return { outcomes: await this.#applyTogether(batch, signal) }
    } catch (err) {
      if (signal.aborted) throw err
      if (batch.length === 1 || isTransientPostgresError(err)) return { outcomes: [], failure: { err, index: 0 } }
      this.#log.warn(
        { err, groups: batch.length, firstGroupSeq: batch[0]?.group.groupSeq },
        'a batch of groups failed; applying it one group at a time',
      )
    }
    const outcomes: ApplyOutcome[] = []
    for (const [index, assembled] of batch.entries()) {
      try {
        outcomes.push(await this.apply(assembled, signal))
      } catch (err) {
        if (signal.aborted) throw err
        return { outcomes, failure: { err, index } }
      }
    }
    return { outcomes }
  }

  async #applyTogether(batch: readonly AssembledGroup[], signal: AbortSignal): Promise<ApplyOutcome[]> {
    const first = batch[0] as AssembledGroup
    const last = batch[batch.length - 1] as AssembledGroup
    const where = { groupSeq: first.group.groupSeq, offset: first.lastOffset, groups: batch.length }
    // set when a COMMIT may have landed: the next attempt reads the control row, and finding a group
    // there means this applier committed it (not that someone else had)
    let commitUnknown = false
    const outcomes = await retry(
      () => this.#store.applyGroups(batch.map((a) => ({ group: a.group, journalOffset: a.lastOffset }))),
      {
        ...APPLY_RETRY,
        signal,
        isRetriable: isTransientPostgresError,
        onRetry: (err, attempt, delayMs) => {
          if (isXrcError(err, 'XRC_COMMIT_UNKNOWN')) commitUnknown = true
          const { source } = this.#outage.watch.failed(outageSource(err, 'postgres'), err, Date.now())
          this.#outage.metrics.retried(source)
          this.#log.warn({ err, attempt, delayMs, source, ...where }, 'apply failed; retrying as long as it lasts')
        },
      },
    )
    this.#outageEnded()
    const settled = outcomes.map((o) => settledOutcome(o, commitUnknown))
    // a COMMIT whose outcome was unknown and that landed is the transaction that applied the groups
    if (settled.includes('applied')) {
      this.#metrics.transactions.inc()
      this.#metrics.batchGroups.observe(settled.filter((o) => o === 'applied').length)
    }
    if (commitUnknown) {
      // one transaction: it committed as a whole or not at all, so its last group says which
      const committed = outcomes[outcomes.length - 1] === 'duplicate'
      this.#log.warn({ ...where, lastGroupSeq: last.group.groupSeq, committed }, commitUnknownMessage(batch, committed))
    }
    return settled
  }

  /** Logs the end of an outage the batch rode out (nothing when there was none). */
  #outageEnded(): void {
    const ended = this.#outage.watch.recovered()
    if (ended === undefined) return
    const { source, retries } = ended
    this.#log.info({ source, retries, lastedMs: Date.now() - ended.since }, 'the outage is over: applying goes on')
  }

  /**
   * Counts the group in the metrics and the log: `seconds` is how long its batch's transaction took, `readMs` how
   * long the batch waited for its updates to be read before it.
   */
  record({ group, lastOffset }: AssembledGroup, outcome: ApplyOutcome, { seconds, readMs }: ApplyTiming): void {
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
    this.#log.debug({ ...logged, ms: Math.round(seconds * 1000), readMs }, 'group applied')
  }
}

/** The log line of a COMMIT whose outcome was unknown, once the control row told (the fault suite matches it). */
function commitUnknownMessage(batch: readonly AssembledGroup[], committed: boolean): string {
  const first = (batch[0] as AssembledGroup).group.groupSeq
  const last = (batch[batch.length - 1] as AssembledGroup).group.groupSeq
  if (batch.length === 1) {
    return (
      `the outcome of group ${first}'s COMMIT was unknown; the control table shows it ` +
      (committed ? 'committed: it is not applied again' : 'did not commit: it was applied now')
    )
  }
  return (
    `the outcome of groups ${first}..${last}'s COMMIT was unknown; the control table shows them ` +
    (committed ? 'committed: they are not applied again' : 'not committed: they were applied now')
  )
}
