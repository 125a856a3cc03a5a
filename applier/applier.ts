/**
 * The applier service: follows the session's journal and applies each
 * consistency group, whole and in order, to the secondary block store. Its
 * parts: the lifecycle (run/lifecycle.ts), the decisions around each group
 * (run/groupSteps.ts), one group applied with retries and metrics
 * (run/groupApplier.ts), the store (store/), the journal feed (journal/) and
 * the applied-state publisher (feedback/); its interface is applierApi.ts,
 * and this file wires the parts.
 *
 * - A journal record with ranges is a marker (schemas/markers.ts): its
 *   updates are read from the updates topic (journal/updatesReader.ts,
 *   bounded by applier.readAheadBytes, prefetched while the groups before it
 *   apply) and resolved into the group; a record without ranges is a group
 *   of the older format, applied from its parts. At start the updates
 *   topic's retention must cover the journal's (lib/kafka/retention.ts).
 * - Resumes from the store's control row (journal offset + 1), never from
 *   consumer-group offsets: the secondary itself says what it holds.
 * - Consecutive groups ready at once (a fetched journal batch, their updates
 *   in hand) are applied in one PostgreSQL transaction, bounded by
 *   applier.maxBatchBytes and applier.maxBatchGroups, never past the stop point,
 *   cut before a gap (run/batchRule.ts); each group keeps its own order
 *   check, history row, metrics, onGroup call and applied-state note. stop()
 *   or a crash leaves a batch applied or not at all; the journal re-read
 *   after a restart applies it then, or finds its groups duplicates.
 * - Halts (status 'halted', the reason logged and in status(), metric
 *   xrc_applier_halted = 1) on a group out of order, a record that does not
 *   decode, parts that do not form a group, an update the store cannot hold,
 *   or PostgreSQL failing beyond the retries. It never skips a group.
 * - stopAtTime / stopAtGroup: applies the groups with T <= stopAtTime and
 *   seq <= stopAtGroup, then stops (recover to a past consistency time or
 *   group; run/groupSteps.ts).
 * - A delayed secondary (applier.delayMs): a group is applied only once its
 *   T is that old (run/delayGate.ts); meanwhile the journal batch in hand
 *   waits and the backlog stays in Kafka. status(), /health and the metrics
 *   show the delay held.
 * - Snapshot retention (applier.snapshots): after a commit, at most every
 *   few seconds and in the background, the snapshots beyond the limits are
 *   deleted (snapshotCare.ts); a failure is logged, not fatal.
 * - Tells the primary what it holds: after each commit (and at start-up) its
 *   last group and image state go to the session's applied topic, at most
 *   one record per applier.feedbackMs (feedback/appliedPublisher.ts).
 */
import type { KafkaClient } from '../lib/kafka/index.js'
import { Backoff } from '../lib/backoff.js'
import { Registry } from 'prom-client'
import { XrcError, errorMessage } from '../lib/errors.js'
import { createFaultPoints, type FaultPoints } from '../lib/faultPoints.js'
import {
  checkUpdatesRetention,
  connectAdmin,
  createKafkaClient,
  ensureTopic,
  journalTopicSpec,
  kafkaAccessError,
  stagePermissions,
} from '../lib/kafka/index.js'
import type { Logger } from '../lib/logger.js'
import type { HealthReport } from '../lib/metrics.js'
import { OutageWatch, RESTART_POLICY, failureVerdict, outageSource, outageStatus } from '../lib/outage.js'
import { createOutageMetrics, type OutageMetrics } from '../lib/outageMetrics.js'
import { createPool, postgresStartError, type Pool } from '../lib/postgres.js'
import { waitFor } from '../lib/retry.js'
import { createStageEnding, settleWithin, type StageEnd, type StageEnding } from '../lib/stage.js'
import { createCodec, type AvroCodec } from '../schemas/codec.js'
import { JOURNAL_SCHEMA, type ConsistencyGroup, type JournalRecord } from '../schemas/journal.js'
import { isMarker } from '../schemas/markers.js'
import { RECORD_SET_SCHEMA, type RecordSet } from '../schemas/recordSet.js'
import { sessionTopics, valueSubject } from '../schemas/topicNames.js'
import { createApplierMetrics, type ApplierMetrics } from './applierMetrics.js'
import { CodeRecomputer, createSegmentCodes } from './codes/index.js'
import { appliedNote, createAppliedPublisher, type AppliedPublisher } from './feedback/index.js'
import { registerImageMetrics } from './imageMetrics.js'
import type { AppliedMark, AssembledGroup } from './journal/index.js'
import {
  createJournalFeed,
  createUpdatesReader,
  JOURNAL_PARTITION,
  type JournalFeed,
  type UpdatesReader,
} from './journal/index.js'
import {
  addToBatch,
  ApplierLifecycle,
  DelayGate,
  GroupApplier,
  joinsBatch,
  rpoNowMs,
  StallWatch,
  stallReason,
  startStep,
  stepAfter,
  stepBefore,
  tighterBound,
  type StopAt,
  type BatchCandidate,
  type ApplyTiming,
  type BatchResult,
} from './run/index.js'
import { SnapshotCare } from './snapshotCare.js'
import { createBlockStore, createSnapshots, type ApplyOutcome, type BlockStore } from './store/index.js'
import type { Applier, ApplierOptions, ApplierStatus } from './applierApi.js'

export type { Applier, ApplierOptions, ApplierStatus, GroupEvent } from './applierApi.js'
export type { ApplierState } from './run/index.js'

/** How long stop() waits for the journal reader (with the group in progress), then for the pool, to close. */
const STOP_CLOSE_MS = 6000

/** A failure of the readers ridden out as an outage: retriable, of Kafka or the registry (else it halts). */
function ridesOut(err: unknown): boolean {
  const source = outageSource(err, 'other')
  return failureVerdict(err) === 'retry' && (source === 'kafka' || source === 'registry')
}

/** The applier of `options.config`'s session (see Applier for the contract). */
export function createApplier(options: ApplierOptions): Applier {
  return new ApplierService(options)
}

/** What the applier has done since start(). */
interface Progress {
  lastApplied: AppliedMark | undefined
  groupsApplied: number
  /** PostgreSQL transactions that applied groups (a batch of several is one). */
  transactions: number
  duplicatesSkipped: number
}

class ApplierService implements Applier {
  readonly name = 'applier' as const
  // the journal reader with the group in progress, the updates reader, then the pool
  readonly stopBoundMs = 3 * STOP_CLOSE_MS + 2000
  readonly store: BlockStore
  readonly metrics: Registry
  readonly #options: ApplierOptions
  readonly #session: string
  readonly #schema: string
  readonly #topic: string
  /** Where a run to a goal (replay) stops; empty for the service. */
  readonly #stopAt: StopAt
  readonly #log: Logger
  readonly #pool: Pool
  readonly #ownPool: boolean
  readonly #applierMetrics: ApplierMetrics
  readonly #groups: GroupApplier
  readonly #delay: DelayGate
  /** Snapshot retention after commits, and the snapshots' space for the metrics. */
  readonly #snapshots: SnapshotCare
  readonly #lifecycle = new ApplierLifecycle()
  /** The outage of PostgreSQL or the registry being ridden out, if any. */
  readonly #outage = new OutageWatch()
  /** The Kafka client of the current run, for the refusals kafkajs only logged (lastRefusal). */
  #kafka: KafkaClient | undefined
  readonly #outageMetrics: OutageMetrics
  readonly #stall: StallWatch
  #watchdog: NodeJS.Timeout | undefined
  // keeps the segment codes valid behind the applies (applier/codes/)
  readonly #codes: CodeRecomputer
  readonly #ending: StageEnding = createStageEnding()
  // aborts the retry backoff of a failing apply when stop() is called
  readonly #stopping = new AbortController()
  readonly #progress: Progress = {
    lastApplied: undefined,
    groupsApplied: 0,
    transactions: 0,
    duplicatesSkipped: 0,
  }
  #feed: JournalFeed | undefined
  #updates: UpdatesReader | undefined
  /** The journal's and the updates' codecs and the Kafka client of the run, kept for reading again (#rerun). */
  #codec: AvroCodec<JournalRecord> | undefined
  #updatesCodec: AvroCodec<RecordSet> | undefined
  /** The readers are being made anew after a Kafka failure (#rerun), and what the new ones reported meanwhile. */
  #rerunning = false
  #failedMeanwhile: unknown
  // journal offsets of the markers announced to the updates reader, not released yet
  readonly #announced = new Set<number>()
  #publisher: AppliedPublisher | undefined
  #teardown: Promise<void> | undefined

  constructor(options: ApplierOptions) {
    const { config } = options
    this.#options = options
    this.#session = config.session.name
    this.#schema = options.schema ?? config.applier.schema
    this.#topic = sessionTopics(this.#session).journal
    this.#stopAt = { time: options.stopAtTime, group: options.stopAtGroup }
    this.#log = options.logger.child({ component: 'applier', session: this.#session, schema: this.#schema })
    this.#ownPool = options.pool === undefined
    this.#pool =
      options.pool ??
      createPool({
        url: config.database.url,
        logger: options.logger,
        applicationName: `xrc-applier-${this.#session}`,
        timeouts: {
          statementTimeoutMs: config.applier.statementTimeoutMs,
          lockTimeoutMs: config.applier.lockTimeoutMs,
          idleInTransactionTimeoutMs: config.applier.idleInTransactionTimeoutMs,
        },
      })
    this.metrics = options.metrics ?? new Registry()
    this.#delay = new DelayGate({ delayMs: config.applier.delayMs, logger: this.#log })
    this.#stall = new StallWatch(config.applier.stallAfterMs, Date.now())
    const faults = createFaultPoints(config.faults.point, this.#log)
    this.#snapshots = this.#snapshotCare(faults)
    this.#applierMetrics = createApplierMetrics(this.metrics, {
      journalLag: () => this.#journalLag(),
      delayHeld: () => this.#delay.held(),
      rpoNow: () => rpoNowMs(this.#progress.lastApplied?.groupTime, this.#stall.lag, Date.now()),
      snapshotSpace: () => this.#snapshots.space(),
    })
    this.#outageMetrics = createOutageMetrics(this.metrics, 'applier', () => this.#outage.current)
    this.store = createBlockStore({
      pool: this.#pool,
      schema: this.#schema,
      session: this.#session,
      blockSize: config.session.blockSize,
      segmentBlocks: config.session.segmentBlocks,
      volumes: config.session.controllers.flatMap((c) => c.volumes),
      journalPartition: JOURNAL_PARTITION,
      logger: options.logger,
      faults,
    })
    registerImageMetrics(this.metrics, () => this.store.consistency())
    this.#codes = new CodeRecomputer({
      codes: createSegmentCodes({
        pool: this.#pool,
        schema: this.#schema,
        segmentBlocks: config.session.segmentBlocks,
        blockSize: config.session.blockSize,
      }),
      blockSize: config.session.blockSize,
      bytesPerSecond: config.applier.codeRecomputeBytesPerSecond,
      quietMs: config.applier.codeRecomputeQuietMs,
      logger: this.#log,
    })
    this.#groups = new GroupApplier(this.store, this.#applierMetrics, this.#log, {
      watch: this.#outage,
      metrics: this.#outageMetrics,
    })
  }

  /** Retention and space of this secondary's snapshots (snapshotCare.ts). */
  #snapshotCare(faults: FaultPoints): SnapshotCare {
    const { pool, schema } = { pool: this.#pool, schema: this.#schema }
    return new SnapshotCare({
      snapshots: createSnapshots({ pool, schema, session: this.#session, logger: this.#log, faults }),
      limits: this.#options.config.applier.snapshots,
      logger: this.#log,
      onRetired: (count) => this.#applierMetrics.snapshotsRetired.inc(count),
    })
  }

  get done(): Promise<StageEnd> {
    return this.#ending.done
  }

  async start(): Promise<void> {
    this.#lifecycle.begin()
    try {
      await this.#open()
    } catch (cause) {
      const err = this.#refusal(cause) ?? cause
      if (this.#lifecycle.halted) return
      if (this.#stopping.signal.aborted) return // stop() won the race; nothing to report
      this.#log.error({ err }, 'applier could not start')
      this.#lifecycle.halt(err)
      this.#applierMetrics.halted.set(1)
      await this.#tearDown()
      throw err
    }
  }

  async stop(): Promise<void> {
    this.#lifecycle.requestStop()
    this.#stopping.abort(new XrcError('XRC_CLOSED', { reason: 'stopping', component: 'applier' }))
    await this.#tearDown()
  }

  status(): ApplierStatus {
    const { state, stopReason } = this.#lifecycle
    const halt = this.#lifecycle.haltStatus()
    const image = this.store.consistency()
    return {
      state,
      session: this.#session,
      schema: this.#schema,
      lastApplied: this.#progress.lastApplied,
      journalPosition: this.#feed?.position(),
      groupsApplied: this.#progress.groupsApplied,
      duplicatesSkipped: this.#progress.duplicatesSkipped,
      ...(stopReason ? { stopReason } : {}),
      ...(halt !== undefined ? { halt } : {}),
      ...(image ? { image } : {}),
      ...(this.#delay.delayMs > 0 ? { delay: this.#delay.held() } : {}),
      ...this.#troubleStatus(),
    }
  }

  /**
   * 'unavailable' (503) while running through an outage or stalled (the watchdog), with the reason; else as
   * the lifecycle says ('halted' answers 503 too).
   */
  health(): HealthReport {
    const status = this.status()
    const lifecycle = this.#lifecycle.health()
    const trouble = status.outage?.reason ?? status.stall?.reason
    if (lifecycle === 'ok' && trouble !== undefined) return { ...status, status: 'unavailable', reason: trouble }
    const halt = status.halt
    return {
      ...status,
      status: lifecycle,
      ...(halt ? { reason: `${halt.code ?? 'unexpected'}: ${halt.message}` } : {}),
    }
  }

  /** The outage ridden out and the stall, while running. */
  #troubleStatus(): Pick<ApplierStatus, 'outage' | 'stall'> {
    if (this.#lifecycle.state !== 'running') return {}
    const now = Date.now()
    const outage = outageStatus(this.#outage.current, now)
    const stall = this.#stall.stall(now)
    return {
      ...(outage ? { outage } : {}),
      ...(stall
        ? { stall: { since: new Date(stall.since).toISOString(), lag: stall.lag, reason: stallReason(stall, now) } }
        : {}),
    }
  }

  /** Registry decodes retried during its outage: the applier's outage, shown and counted. */
  #registryRetry(err: unknown): void {
    this.#outage.failed('registry', err, Date.now())
    this.#outageMetrics.retried('registry')
  }

  /**
   * The watchdog: observes the journal lag every quarter of applier.stallAfterMs (at most every second), so
   * health() can say stalled without asking the broker. Stopped by the teardown.
   */
  #startWatchdog(): void {
    const everyMs = Math.min(1000, Math.max(50, Math.floor(this.#stall.stallAfterMs / 4)))
    let observing = false
    this.#watchdog = setInterval(() => {
      if (observing) return
      observing = true
      void this.#journalLag()
        .catch(() => undefined)
        .then((lag) => this.#stall.observe(lag, Date.now(), this.#delay.held().groupsWaiting > 0))
        .finally(() => (observing = false))
    }, everyMs)
    this.#watchdog.unref()
  }

  async waitCaughtUp(waitOptions: { timeoutMs?: number; untilOffset?: number } = {}): Promise<boolean> {
    const lifecycle = this.#lifecycle
    const feed = this.#feed
    if (feed === undefined || lifecycle.state !== 'running') {
      if (lifecycle.halted) throw lifecycle.haltError
      if (lifecycle.state === 'stopped' || lifecycle.state === 'stopping') return false
      throw new XrcError('XRC_USAGE', {
        reason: 'notStarted',
        component: 'applier',
        state: lifecycle.state,
        what: 'waiting for it to catch up',
      })
    }
    const end = waitOptions.untilOffset ?? (await feed.endOffset())
    const outcome = await waitFor(
      `the applier of session ${this.#session} to reach journal offset ${end}`,
      () => {
        if (lifecycle.halted) return 'halted' as const
        if (lifecycle.state !== 'running') return 'stopped' as const
        // the feed of now: a Kafka failure makes it anew (#rerun)
        return (this.#feed ?? feed).position() >= end ? ('caught-up' as const) : undefined
      },
      { timeoutMs: waitOptions.timeoutMs ?? 60_000, intervalMs: 25 },
    )
    if (outcome === 'halted') throw lifecycle.haltError
    return outcome === 'caught-up'
  }

  /** The start: the store read, the publisher and the journal topic ready, then the feed followed. */
  async #open(): Promise<void> {
    const { config } = this.#options
    await this.store.init().catch((err: unknown) => {
      throw postgresStartError(err, config.database.url)
    })
    for (const w of await this.store.serverWarnings()) this.#log.warn(w.fields, w.message)
    const lastApplied = await this.store.lastApplied()
    this.#progress.lastApplied = lastApplied
    await this.store.readConsistency()
    if (lastApplied) this.#applierMetrics.consistencyTime.set(lastApplied.groupTime / 1e6)
    this.#applierMetrics.halted.set(0)
    const { fromOffset, finished } = startStep(lastApplied, this.#stopAt)
    this.#log.info({ ...markFields(lastApplied), fromOffset, stopAt: this.#stopAt }, 'applier starting')
    if (finished) {
      this.#finish()
      return
    }
    this.#codes.start()
    const codec = this.#options.codec ?? (await this.#createCodec())
    const kafka =
      this.#options.kafka ??
      createKafkaClient({
        connection: config.kafka,
        library: config.kafka.client,
        clientId: `${config.kafka.clientId}-applier`,
        logger: this.#options.logger,
      })
    this.#kafka = kafka
    this.#codec = codec
    if (this.#options.publishApplied ?? true) this.#startPublisher(kafka)
    // the applier may start before the mover: whichever starts first creates the journal
    if (this.#options.createJournalTopic ?? true) await this.#ensureJournalTopic(kafka)
    const feed = await this.#readers(kafka, codec, fromOffset)
    if (!this.#lifecycle.run()) return // stop() came first
    this.#stall.applied(Date.now()) // the watchdog counts from the start
    this.#startWatchdog()
    await feed.start()
  }

  /** The updates reader and the journal feed from `fromOffset` (not started), made the current ones. */
  async #readers(kafka: KafkaClient, codec: AvroCodec<JournalRecord>, fromOffset: number): Promise<JournalFeed> {
    const updates = await this.#createUpdatesReader(kafka)
    this.#updates = updates
    this.#announced.clear()
    const feed = createJournalFeed({
      kafka,
      library: this.#options.config.kafka.client,
      topic: this.#topic,
      fromOffset,
      codec,
      logger: this.#log,
      groupPrefix: `xrc.${this.#session}.applier`,
      onRecord: (record, offset) => (this.#feed === feed ? this.#announce(updates, record, offset) : undefined),
      onGroups: (groups, keepAlive) => this.#onGroups(feed, groups, keepAlive),
      onError: (err, offset) => (this.#feed === feed ? this.#readFailed(err, offset) : undefined),
      onRetry: (err) => this.#registryRetry(err),
    })
    this.#feed = feed
    return feed
  }

  /**
   * The journal feed, the updates reader or a marker's updates failed. Kafka
   * (or the registry) out of reach is an outage, ridden out as long as it
   * lasts (#rerun: the readers made anew, from the control row); a refusal
   * or anything else halts.
   */
  #readFailed(err: unknown, offset?: number): void {
    if (this.#lifecycle.state !== 'running' || this.#stopping.signal.aborted) return
    if (this.#rerunning) {
      // #rerun takes it up: the readers it stops say their last (a marker waiting on the updates reader gives up
      // with XRC_CLOSED), which it drops; what the new ones say as they start, it judges as its own failure
      this.#failedMeanwhile = err
      return
    }
    if (!ridesOut(err) || this.#refusal(err) !== undefined) {
      this.#halt(err, offset)
      return
    }
    this.#rerunning = true
    const outage = this.#outage.failed(outageSource(err, 'kafka'), err, Date.now())
    this.#outageMetrics.retried(outage.source)
    this.#log.warn(
      { err, source: outage.source, retries: outage.retries, ...markFields(this.#progress.lastApplied) },
      'the journal or updates reader failed: reading again from the last group applied',
    )
    // never awaited from inside the feed's callback (the feed's stop waits for it)
    void this.#rerun().finally(() => (this.#rerunning = false))
  }

  /**
   * Stops the readers, waits the backoff, and follows the journal again from
   * the last group applied (the same start as a restart of the process:
   * what was read ahead is read again); again after each failure while it
   * rides out, until stop() or a halt.
   */
  async #rerun(): Promise<void> {
    const backoff = new Backoff({
      initialMs: RESTART_POLICY.initialDelayMs,
      maxMs: RESTART_POLICY.maxDelayMs,
      jitter: 'full',
    })
    for (;;) {
      await this.#stopReaders()
      try {
        await backoff.wait(this.#stopping.signal)
      } catch {
        return // stop() came
      }
      if (this.#lifecycle.state !== 'running' || this.#stopping.signal.aborted) return
      const { fromOffset } = startStep(this.#progress.lastApplied, this.#stopAt)
      try {
        const feed = await this.#readers(
          this.#kafka as KafkaClient,
          this.#codec as AvroCodec<JournalRecord>,
          fromOffset,
        )
        // what the stopped readers reported late is not the new ones' failure
        this.#failedMeanwhile = undefined
        if (this.#stopping.signal.aborted) return // the teardown stops what is current
        await feed.start()
        if (this.#failedMeanwhile !== undefined) throw this.#failedMeanwhile
        const ended = this.#outage.recovered()
        this.#log.info(
          { fromOffset, ...(ended ? { source: ended.source, retries: ended.retries } : {}) },
          'reading the journal again',
        )
        return
      } catch (err) {
        if (this.#stopping.signal.aborted || this.#lifecycle.state !== 'running') return
        if (!ridesOut(err) || this.#refusal(err) !== undefined) {
          this.#halt(err)
          return
        }
        const outage = this.#outage.failed(outageSource(err, 'kafka'), err, Date.now())
        this.#outageMetrics.retried(outage.source)
        this.#log.warn({ err, source: outage.source, retries: outage.retries }, 'reading the journal again failed')
      }
    }
  }

  /**
   * Stops the current updates reader (a marker waiting on it gives up), then the feed, which waits for the group
   * in progress; each within STOP_CLOSE_MS.
   */
  async #stopReaders(): Promise<void> {
    const log = this.#log
    const updates = this.#updates
      ?.stop()
      .catch((err: unknown) => log.warn({ err }, 'updates reader did not stop cleanly'))
    if (!(await settleWithin(updates, STOP_CLOSE_MS)))
      log.warn({ waitedMs: STOP_CLOSE_MS }, 'the updates reader did not stop in time')
    const reader = this.#feed?.stop().catch((err: unknown) => log.warn({ err }, 'journal reader did not stop cleanly'))
    if (!(await settleWithin(reader, STOP_CLOSE_MS)))
      log.warn({ waitedMs: STOP_CLOSE_MS }, 'the journal reader (or the group in progress) did not stop in time')
  }

  /**
   * The run loop's body, once per fetched batch of whole groups in journal
   * order (the feed waits for it): false takes no more groups. The groups go
   * to the store in batches (#collect: the head, then the next ones ready
   * now, run/batchRule.ts), each batch one transaction; then each group is
   * counted, reported and noted, in order. A group past the stop time is
   * left unapplied; a group younger than applier.delayMs waits for its time
   * first (#delay); a failure the retries cannot get past halts (the groups
   * before it in its batch committed and are counted); a stop() during the
   * backoff or the delay leaves the batch to be read again on restart.
   */
  async #onGroups(
    feed: JournalFeed,
    groups: readonly AssembledGroup[],
    keepAlive: () => Promise<void>,
  ): Promise<boolean> {
    // a feed replaced meanwhile (#rerun) takes no more groups: the new one reads them again
    const current = (): boolean => this.#lifecycle.state === 'running' && this.#feed === feed
    let next = 0
    while (next < groups.length) {
      if (!current()) return false
      const head = groups[next] as AssembledGroup
      if (stepBefore(head.group, this.#stopAt) === 'stop-time') {
        this.#finish()
        return false
      }
      if (!(await this.#heldForDelay(head, groups.length - next, keepAlive)) || !current()) return false
      const started = process.hrtime.bigint()
      let batch: AssembledGroup[]
      let result: BatchResult
      try {
        batch = await this.#collect(groups, next)
      } catch (err) {
        // a marker's updates not read (KafkaClient out of reach rides out), not there or not decodable (halts)
        if (!this.#stopping.signal.aborted && current()) this.#readFailed(err, head.lastOffset)
        return false
      }
      if (!current()) return false
      const collected = process.hrtime.bigint()
      try {
        result = await this.#groups.applyBatch(batch, this.#stopping.signal)
      } catch (err) {
        if (!this.#stopping.signal.aborted) this.#halt(err, head.lastOffset)
        return false
      }
      // the transaction, and before it the wait for the batch's updates to be read
      const timing = {
        seconds: Number(process.hrtime.bigint() - collected) / 1e9,
        readMs: Number((collected - started) / 1_000_000n),
      }
      if (result.outcomes.includes('applied')) {
        this.#progress.transactions++
        this.#snapshots.afterCommit()
      }
      for (const [i, outcome] of result.outcomes.entries()) {
        if (!this.#applied(batch[i] as AssembledGroup, outcome, timing)) return false
      }
      if (result.failure !== undefined) {
        const failed = batch[result.failure.index] as AssembledGroup
        if (!this.#stopping.signal.aborted) this.#halt(result.failure.err, failed.lastOffset)
        return false
      }
      next += batch.length
    }
    return this.#lifecycle.state === 'running'
  }

  /**
   * The batch starting at `groups[from]`: the head resolved (waiting for its
   * updates as long as it takes), then each next group whose updates are in
   * hand now, while run/batchRule.ts lets it join. A marker's updates are
   * released to the updates reader once resolved (the group holds them), so
   * the next marker becomes the head.
   */
  async #collect(groups: readonly AssembledGroup[], from: number): Promise<AssembledGroup[]> {
    const { config } = this.#options
    const limits = {
      maxBytes: config.applier.maxBatchBytes,
      maxGroups: config.applier.maxBatchGroups,
      // a group the delay holds back ends the batch as a stop time would
      stopAt: { ...this.#stopAt, time: tighterBound(this.#stopAt.time, this.#delay.bound()) },
    }
    const head = await this.#resolve(groups[from] as AssembledGroup)
    const batch = [head]
    let sofar = addToBatch(undefined, batchCandidate(head))
    for (const read of groups.slice(from + 1)) {
      // what it would add is known only once resolved; a marker not ready now ends the batch
      if (!joinsBatch(sofar, { ...batchCandidate(read), bytes: 0 }, limits)) break
      const ready = await this.#resolveReady(read)
      if (ready === undefined || !joinsBatch(sofar, batchCandidate(ready), limits)) break
      this.#releaseMarker(ready.lastOffset)
      batch.push(ready)
      sofar = addToBatch(sofar, batchCandidate(ready))
    }
    return batch
  }

  /**
   * Waits until the delay lets `head` apply (a group applied already, read
   * again, is skipped at once): false when stop() comes first.
   */
  async #heldForDelay(head: AssembledGroup, inHand: number, keepAlive: () => Promise<void>): Promise<boolean> {
    if (head.group.groupSeq <= (this.#progress.lastApplied?.groupSeq ?? 0)) return true
    const held = await this.#delay.hold(head.group.groupTime, inHand, this.#stopping.signal, keepAlive)
    return held && this.#lifecycle.state === 'running'
  }

  /** Counts, reports and notes one group of a committed batch; false when the run stops after it. */
  #applied(assembled: AssembledGroup, outcome: ApplyOutcome, timing: ApplyTiming): boolean {
    const { group, lastOffset } = assembled
    this.#stall.applied(Date.now())
    this.#groups.record(assembled, outcome, timing)
    this.#noteProgress(assembled, outcome)
    this.#options.onGroup?.({
      groupSeq: group.groupSeq,
      groupTime: group.groupTime,
      journalOffset: lastOffset,
      outcome,
      updates: group.updates.length,
    })
    if (stepAfter(group, this.#stopAt) === 'stop-time') {
      this.#finish()
      return false
    }
    return true
  }

  /** Markers go to the updates reader as the journal feed decodes them (a duplicate is not read). */
  #announce(updates: UpdatesReader, record: JournalRecord, offset: number): void {
    if (!isMarker(record) || record.groupSeq <= (this.#progress.lastApplied?.groupSeq ?? 0)) return
    this.#announced.add(offset)
    updates.announce(record, offset)
  }

  /**
   * The group to apply: a marker's updates read from the updates topic and
   * resolved (schemas/markers.ts), a group of the older format as it is. A
   * marker found applied already is not read: the store finds it a duplicate.
   */
  async #resolve(assembled: AssembledGroup): Promise<AssembledGroup> {
    const { marker, lastOffset } = assembled
    if (marker === undefined || !this.#announced.has(lastOffset)) return assembled
    if (marker.groupSeq <= (this.#progress.lastApplied?.groupSeq ?? 0)) {
      this.#releaseMarker(lastOffset)
      return assembled
    }
    const reader = this.#updates as UpdatesReader
    const group: ConsistencyGroup = await reader.resolve(marker, lastOffset, this.#stopping.signal)
    this.#releaseMarker(lastOffset)
    return { ...assembled, group }
  }

  /**
   * As #resolve, without waiting: undefined when a marker's updates are not
   * all in hand now, or do not resolve (the group then heads the next batch,
   * where #resolve waits for it or throws).
   */
  async #resolveReady(assembled: AssembledGroup): Promise<AssembledGroup | undefined> {
    const { marker, lastOffset } = assembled
    if (marker === undefined || !this.#announced.has(lastOffset)) return assembled
    if (marker.groupSeq <= (this.#progress.lastApplied?.groupSeq ?? 0)) return assembled
    // #collect releases it once it joins
    const group = await (this.#updates as UpdatesReader).resolveReady(marker, lastOffset).catch(() => undefined)
    return group === undefined ? undefined : { ...assembled, group }
  }

  #releaseMarker(journalOffset: number): void {
    if (this.#announced.delete(journalOffset)) this.#updates?.release()
  }

  async #createUpdatesReader(kafka: KafkaClient): Promise<UpdatesReader> {
    const { config } = this.#options
    const topic = sessionTopics(this.#session).updates
    await this.#checkRetention(kafka, topic)
    this.#updatesCodec ??= this.#options.updatesCodec ?? (await this.#createUpdatesCodec(topic))
    const codec = this.#updatesCodec
    const metrics = this.#applierMetrics
    const reader: UpdatesReader = createUpdatesReader({
      kafka,
      library: this.#options.config.kafka.client,
      topic,
      codec,
      blockSize: config.session.blockSize,
      logger: this.#log,
      groupPrefix: `xrc.${this.#session}.applier.updates`,
      readAheadBytes: config.applier.readAheadBytes,
      onError: (err) => (this.#updates === reader ? this.#readFailed(err) : undefined),
      onRetry: (err) => this.#registryRetry(err),
      onHeldBytes: (bytes) => {
        metrics.updatesHeldBytes.set(bytes)
        const { peak } = this.#updates?.heldBytes() ?? { peak: bytes }
        metrics.updatesHeldPeakBytes.set(Math.max(peak, bytes))
      },
    })
    return reader
  }

  /**
   * Refuses to start when the updates topic's retention does not cover the
   * journal's (lib/kafka/retention.ts); an updates topic not created yet (the
   * primary creates it) is checked by the mover, which waits for it.
   */
  async #checkRetention(kafka: KafkaClient, updatesTopic: string): Promise<void> {
    const admin = await connectAdmin(kafka)
    try {
      const topics = await admin.listTopics()
      if (!topics.includes(updatesTopic) || !topics.includes(this.#topic)) {
        this.#log.info({ updatesTopic }, 'the updates topic is not there yet: its retention is not checked')
        return
      }
      await checkUpdatesRetention(admin, updatesTopic, this.#topic)
    } finally {
      await admin.disconnect()
    }
  }

  #createUpdatesCodec(topic: string): Promise<AvroCodec<RecordSet>> {
    return createCodec<RecordSet>({
      registry: this.#options.config.schemaRegistry,
      subject: valueSubject(topic),
      schema: RECORD_SET_SCHEMA,
    })
  }

  #noteProgress({ group, lastOffset }: AssembledGroup, outcome: ApplyOutcome): void {
    if (outcome === 'duplicate') {
      this.#progress.duplicatesSkipped++
      return
    }
    this.#progress.groupsApplied++
    const mark = { groupSeq: group.groupSeq, groupTime: group.groupTime, journalOffset: lastOffset }
    this.#progress.lastApplied = mark
    // committed: the primary may now discard what this group holds
    this.#publisher?.note(appliedNote(this.#session, this.#schema, mark, this.store.consistency()))
  }

  #halt(cause: unknown, offset?: number): void {
    const err = this.#refusal(cause) ?? cause
    if (!this.#lifecycle.halt(err)) return
    this.#applierMetrics.halted.set(1)
    const context = err instanceof XrcError ? { code: err.code, ...err.context } : {}
    this.#log.error(
      { err, ...markFields(this.#progress.lastApplied), ...context, ...(offset !== undefined ? { offset } : {}) },
      `applier halted: ${errorMessage(err)}`,
    )
    void this.#tearDown()
  }

  /** Kafka refusing this applier (a login, a certificate, an ACL) as the catalogue's error naming what it needs. */
  #refusal(err: unknown): XrcError | undefined {
    return kafkaAccessError(err, this.#options.config.kafka, {
      permissions: stagePermissions(this.#session, 'applier'),
      ...(this.#kafka === undefined ? {} : { logged: this.#kafka.lastRefusal() }),
    })
  }

  #finish(): void {
    this.#lifecycle.reachStopTime()
    this.#log.info({ stopAt: this.#stopAt, ...markFields(this.#progress.lastApplied) }, 'reached the stop point')
    void this.#tearDown()
  }

  /** Stops the feed and releases what the applier owns; once. Never awaited from inside the feed's callback. */
  #tearDown(): Promise<void> {
    this.#teardown ??= (async () => {
      const log = this.#log
      clearInterval(this.#watchdog)
      await this.#codes.stop()
      // a group whose COMMIT a server holds commits or not as a whole: what is not waited for is as after a crash
      await this.#stopReaders()
      if (!(await settleWithin(this.#snapshots.stop(), STOP_CLOSE_MS)))
        log.warn({ waitedMs: STOP_CLOSE_MS }, 'snapshot retention did not end in time')
      // the last state noted goes to the applied topic if it can within its own bound
      if (!(await settleWithin(this.#publisher?.stop(), STOP_CLOSE_MS)))
        log.warn({ waitedMs: STOP_CLOSE_MS }, 'the applied-state publisher did not stop in time')
      const ended = this.#ownPool
        ? this.#pool.end().catch((err: unknown) => log.warn({ err }, 'ending the pool failed'))
        : undefined
      if (!(await settleWithin(ended, STOP_CLOSE_MS)))
        log.warn({ waitedMs: STOP_CLOSE_MS }, 'the PostgreSQL pool did not end in time; left to end by itself')
      this.#lifecycle.ended()
      const { state, stopReason } = this.#lifecycle
      const { lastApplied, groupsApplied, transactions } = this.#progress
      log.info({ ...markFields(lastApplied), state, stopReason, groupsApplied, transactions }, 'applier stopped')
      this.#ending.end(this.#lifecycle.end())
    })()
    return this.#teardown
  }

  #startPublisher(kafka: KafkaClient): void {
    const { config } = this.#options
    this.#publisher = createAppliedPublisher({
      kafka,
      topic: sessionTopics(this.#session).applied,
      registry: config.schemaRegistry,
      secondary: this.#schema,
      intervalMs: config.applier.feedbackMs,
      replication: config.topics,
      logger: this.#log,
    })
    // what the secondary holds as it starts: a primary that has not heard yet learns it now
    this.#publisher.note(appliedNote(this.#session, this.#schema, this.#progress.lastApplied, this.store.consistency()))
  }

  async #ensureJournalTopic(kafka: KafkaClient): Promise<void> {
    const { config } = this.#options
    const admin = await connectAdmin(kafka)
    try {
      await ensureTopic(
        admin,
        journalTopicSpec(this.#topic, config.mover.journalRecordMaxBytes),
        this.#log,
        config.topics,
      )
    } finally {
      await admin.disconnect()
    }
  }

  #createCodec(): Promise<AvroCodec<JournalRecord>> {
    return createCodec<JournalRecord>({
      registry: this.#options.config.schemaRegistry,
      subject: valueSubject(this.#topic),
      schema: JOURNAL_SCHEMA,
    })
  }

  /** Journal records not applied yet, for the metric; undefined while not following the journal. */
  async #journalLag(): Promise<number | undefined> {
    const feed = this.#feed
    if (feed === undefined || this.#lifecycle.state !== 'running') return undefined
    return Math.max(0, (await feed.endOffset()) - feed.position())
  }
}

/** What the batch rule looks at of a group (its block data is known once its updates are resolved). */
function batchCandidate({ group, lastOffset }: AssembledGroup): BatchCandidate {
  const bytes = group.updates.reduce((n, u) => n + u.data.length, 0)
  return { groupSeq: group.groupSeq, groupTime: group.groupTime, lastOffset, bytes }
}

function markFields(mark: AppliedMark | undefined): Record<string, number> {
  return mark ? { groupSeq: mark.groupSeq, groupTime: mark.groupTime, offset: mark.journalOffset } : {}
}
