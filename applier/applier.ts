/**
 * The applier service: follows the session's journal and applies each
 * consistency group, whole and in order, to the secondary block store.
 *
 * - Resumes from the store's control row (journal offset + 1), never from
 *   consumer-group offsets: the secondary itself says what it holds.
 * - A group is applied in one PostgreSQL transaction, so stop() or a crash
 *   leaves it applied or not at all; the journal re-read after a restart
 *   applies it then, or finds it a duplicate.
 * - Halts (status 'halted', the reason logged and in status(), metric
 *   xrc_applier_halted = 1) on a group out of order, a record that does not
 *   decode, parts that do not form a group, an update the store cannot hold,
 *   or PostgreSQL failing beyond the retries. It never skips a group.
 * - stopAtTime: applies the groups with T <= stopAtTime, then stops (recover
 *   to a past consistency time).
 * - Tells the primary what it holds: after each commit (and at start-up) its
 *   last group and image state go to the session's applied topic, at most
 *   one record per applier.feedbackMs (feedback/appliedPublisher.ts).
 */
import type { Kafka } from 'kafkajs'
import { Registry } from 'prom-client'
import type { Config } from '../lib/config.js'
import { XrcError, errorMessage, isXrcError, type ErrorCode } from '../lib/errors.js'
import { createFaultPoints } from '../lib/faultPoints.js'
import { connectAdmin, createKafka } from '../lib/kafka/index.js'
import type { Logger } from '../lib/logger.js'
import type { HealthReport } from '../lib/metrics.js'
import { STOPPED, createStageEnding, endOf, settleWithin, type Stage, type StageEnd } from '../lib/stage.js'
import { createPool, postgresStartError, type Pool } from '../lib/postgres.js'
import { retry, waitFor } from '../lib/retry.js'
import { createCodec, type AvroCodec } from '../schemas/codec.js'
import { JOURNAL_SCHEMA, type JournalRecord } from '../schemas/journal.js'
import { sessionTopics, valueSubject } from '../schemas/topicNames.js'
import { ensureTopic, journalTopicSpec } from '../lib/kafka/index.js'
import { createApplierMetrics } from './applierMetrics.js'
import { appliedNote, createAppliedPublisher, type AppliedPublisher } from './feedback/index.js'
import { registerImageMetrics } from './imageMetrics.js'
import type { ImageState } from './resync/index.js'
import { createBlockStore, type ApplyOutcome, type BlockStore } from './store/index.js'
import type { AssembledGroup } from './journal/index.js'
import type { AppliedMark } from './journal/index.js'
import { createJournalFeed, JOURNAL_PARTITION, type JournalFeed } from './journal/index.js'

export interface ApplierOptions {
  config: Config
  logger: Logger
  /** Kafka client; made from config.kafka when absent. */
  kafka?: Kafka
  /** PostgreSQL pool; made from config.database when absent (and then ended by stop()). A pool passed in stays open. */
  pool?: Pool
  /** Registry for the applier's metrics; a private one when absent. */
  metrics?: Registry
  /** Journal codec; made (and the schema registered) from config.schemaRegistry when absent. */
  codec?: AvroCodec<JournalRecord>
  /** PostgreSQL schema of the secondary; config.applier.schema when absent (replay into another schema). */
  schema?: string
  /** Consistency time T (microseconds): apply the groups with groupTime <= T, then stop. */
  stopAtTime?: number
  /** Create the journal topic when missing (the service: true, the default); replay passes false, a missing journal is an error there. */
  createJournalTopic?: boolean
  /** Called after each group is applied or found a duplicate (progress reporting). */
  onGroup?: (event: GroupEvent) => void
  /** Publish the last applied group on the session's applied topic for the primary (the service: true, the default; replay: false). */
  publishApplied?: boolean
}

export interface GroupEvent {
  groupSeq: number
  groupTime: number
  journalOffset: number
  outcome: ApplyOutcome
  updates: number
}

export type ApplierState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped' | 'halted'

export interface ApplierStatus {
  state: ApplierState
  session: string
  schema: string
  /** Last group the secondary holds (known after start). */
  lastApplied: AppliedMark | undefined
  /** Next journal offset to read. */
  journalPosition: number | undefined
  /** Groups applied and duplicates skipped since start(). */
  groupsApplied: number
  duplicatesSkipped: number
  /** Why a stopped applier stopped. */
  stopReason?: 'requested' | 'stop-time'
  /** Why a halted applier halted. */
  halt?: { code: ErrorCode | undefined; message: string }
  /** Whether the image is consistent, or a resync is being applied (with the group it falls back on); known after start. */
  image?: ImageState
}

/**
 * The applier as a pipeline stage (lib/stage.ts). stop() lets the group being
 * applied commit (or never begin it) and aborts a retry's backoff; `done`
 * reports 'halted' with the code on a group out of order, a record that does
 * not decode, parts that do not form a group, an update the store cannot hold
 * (and 'failed' for PostgreSQL failing beyond the retries with its own
 * error); 'stopped' with reason 'finished' at the stop time.
 */
export interface Applier extends Stage<ApplierStatus> {
  readonly name: 'applier'
  readonly store: BlockStore
  readonly metrics: Registry
  /** Initialises the store, then follows the journal from the control row. Throws if the store or Kafka cannot be reached. */
  start(): Promise<void>
  /** Stops reading; a group being applied finishes first (or was never begun). Idempotent. */
  stop(): Promise<void>
  /**
   * Waits until the applier has read the journal up to its end as the broker
   * reports it when called (the last stable offset; with `untilOffset`, up to
   * that offset) and applied every group below it: true. A transaction whose
   * commit() has returned but whose markers the broker has not yet written is
   * not below that end. False when the applier stops first (stop time or
   * stop()). Rejects with the halt error when it halts, XRC_TIMEOUT after
   * `timeoutMs` (default 60 s).
   */
  waitCaughtUp(options?: { timeoutMs?: number; untilOffset?: number }): Promise<boolean>
}

/** How long stop() waits for the journal reader (with the group in progress), then for the pool, to close. */
const STOP_CLOSE_MS = 6000

/** Attempts for one group when PostgreSQL fails (a restart, a dropped connection); then the applier halts. */
const APPLY_RETRY = { attempts: 8, initialDelayMs: 250, maxDelayMs: 8000 } as const

export function createApplier(options: ApplierOptions): Applier {
  const { config } = options
  const session = config.session.name
  const schema = options.schema ?? config.applier.schema
  const topic = sessionTopics(session).journal
  const log = options.logger.child({ component: 'applier', session, schema })
  const ownPool = options.pool === undefined
  const pool =
    options.pool ??
    createPool({ url: config.database.url, logger: options.logger, applicationName: `xrc-applier-${session}` })
  const metricsRegistry = options.metrics ?? new Registry()
  const metrics = createApplierMetrics(metricsRegistry, {
    journalLag: async () => {
      const f = feed
      if (f === undefined || state !== 'running') return undefined
      return Math.max(0, (await f.endOffset()) - f.position())
    },
  })
  const store = createBlockStore({
    pool,
    schema,
    session,
    blockSize: config.session.blockSize,
    volumes: config.session.controllers.flatMap((c) => c.volumes),
    journalPartition: JOURNAL_PARTITION,
    logger: options.logger,
    faults: createFaultPoints(config.faults.point, log),
  })
  registerImageMetrics(metricsRegistry, () => store.consistency())

  let state: ApplierState = 'new'
  let feed: JournalFeed | undefined
  let publisher: AppliedPublisher | undefined
  let lastApplied: AppliedMark | undefined
  let groupsApplied = 0
  let duplicatesSkipped = 0
  let stopReason: ApplierStatus['stopReason']
  let haltError: unknown
  let teardownPromise: Promise<void> | undefined
  // aborts the retry backoff of a failing apply when stop() is called
  const stopping = new AbortController()
  const ending = createStageEnding()

  function status(): ApplierStatus {
    return {
      state,
      session,
      schema,
      lastApplied,
      journalPosition: feed?.position(),
      groupsApplied,
      duplicatesSkipped,
      ...(stopReason ? { stopReason } : {}),
      ...(haltError !== undefined
        ? {
            halt: {
              code: haltError instanceof XrcError ? haltError.code : undefined,
              message: errorMessage(haltError),
            },
          }
        : {}),
      ...(store.consistency() ? { image: store.consistency() } : {}),
    }
  }

  /** Stops the feed and releases what the applier owns; once. Never awaited from inside the feed's callback. */
  function teardown(final: 'stopped' | 'halted'): Promise<void> {
    teardownPromise ??= (async () => {
      // a group whose COMMIT a server holds commits or not as a whole: what is not waited for is as after a crash
      const reader = feed?.stop().catch((err: unknown) => log.warn({ err }, 'journal reader did not stop cleanly'))
      if (!(await settleWithin(reader, STOP_CLOSE_MS)))
        log.warn({ waitedMs: STOP_CLOSE_MS }, 'the journal reader (or the group in progress) did not stop in time')
      // the last state noted goes to the applied topic if it can within its own bound
      if (!(await settleWithin(publisher?.stop(), STOP_CLOSE_MS)))
        log.warn({ waitedMs: STOP_CLOSE_MS }, 'the applied-state publisher did not stop in time')
      const ended = ownPool
        ? pool.end().catch((err: unknown) => log.warn({ err }, 'ending the pool failed'))
        : undefined
      if (!(await settleWithin(ended, STOP_CLOSE_MS)))
        log.warn({ waitedMs: STOP_CLOSE_MS }, 'the PostgreSQL pool did not end in time; left to end by itself')
      if (state !== 'halted') state = final
      log.info({ ...markFields(lastApplied), state, stopReason, groupsApplied }, 'applier stopped')
      const end: StageEnd =
        haltError !== undefined
          ? endOf(haltError)
          : stopReason === 'stop-time'
            ? { outcome: 'stopped', reason: 'finished' }
            : STOPPED
      ending.end(end)
    })()
    return teardownPromise
  }

  function halt(err: unknown, offset?: number): void {
    if (state === 'halted') return
    haltError = err
    state = 'halted'
    metrics.halted.set(1)
    const context = err instanceof XrcError ? { code: err.code, ...err.context } : {}
    log.error(
      { err, ...markFields(lastApplied), ...context, ...(offset !== undefined ? { offset } : {}) },
      `applier halted: ${errorMessage(err)}`,
    )
    void teardown('halted')
  }

  function finish(reason: 'stop-time'): void {
    stopReason = reason
    state = 'stopping'
    log.info({ stopAtTime: options.stopAtTime, ...markFields(lastApplied) }, 'reached the stop time')
    void teardown('stopped')
  }

  async function onGroup({ group, lastOffset }: AssembledGroup): Promise<boolean> {
    if (state !== 'running') return false
    const stopAt = options.stopAtTime
    if (stopAt !== undefined && group.groupTime > stopAt) {
      finish('stop-time')
      return false
    }
    const started = process.hrtime.bigint()
    let outcome: ApplyOutcome
    // set when a COMMIT of this group may have landed: its next attempt reads the control row, and finding
    // the group there means this applier committed it (not that someone else had)
    let commitUnknown = false
    try {
      outcome = await retry(() => store.applyGroup(group, lastOffset), {
        ...APPLY_RETRY,
        signal: stopping.signal,
        onRetry: (err, attempt, delayMs) => {
          if (isXrcError(err, 'XRC_COMMIT_UNKNOWN')) commitUnknown = true
          log.warn({ err, attempt, delayMs, groupSeq: group.groupSeq, offset: lastOffset }, 'apply failed; retrying')
        },
      })
      if (commitUnknown) {
        log.warn(
          { groupSeq: group.groupSeq, offset: lastOffset, committed: outcome === 'duplicate' },
          `the outcome of group ${group.groupSeq}'s COMMIT was unknown; the control table shows it ${outcome === 'duplicate' ? 'committed: it is not applied again' : 'did not commit: it was applied now'}`,
        )
        outcome = 'applied'
      }
    } catch (err) {
      // stop() during the backoff: the group was not applied and is read again on restart
      if (stopping.signal.aborted) return false
      halt(err, lastOffset)
      return false
    }
    const fields = {
      groupSeq: group.groupSeq,
      groupTime: group.groupTime,
      offset: lastOffset,
      updates: group.updates.length,
    }
    if (outcome === 'applied') {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      groupsApplied++
      lastApplied = { groupSeq: group.groupSeq, groupTime: group.groupTime, journalOffset: lastOffset }
      metrics.groupsApplied.inc()
      metrics.blocksApplied.inc(group.updates.length)
      metrics.bytesApplied.inc(group.updates.reduce((n, u) => n + u.data.length, 0))
      metrics.applySeconds.observe(seconds)
      metrics.consistencyTime.set(group.groupTime / 1e6)
      const rpoMs = Date.now() - group.groupTime / 1000
      metrics.rpoMs.set(rpoMs)
      metrics.rpoSeconds.observe(Math.max(0, rpoMs) / 1000)
      log.debug({ ...fields, ms: Math.round(seconds * 1000) }, 'group applied')
      // committed: the primary may now discard what this group holds
      publisher?.note(appliedNote(session, schema, lastApplied, store.consistency()))
    } else {
      duplicatesSkipped++
      metrics.duplicateGroups.inc()
      log.info(fields, 'group already applied: skipped')
    }
    options.onGroup?.({
      groupSeq: group.groupSeq,
      groupTime: group.groupTime,
      journalOffset: lastOffset,
      outcome,
      updates: group.updates.length,
    })
    if (stopAt !== undefined && group.groupTime >= stopAt) {
      finish('stop-time')
      return false
    }
    return state === 'running'
  }

  return {
    name: 'applier',
    // the journal reader with the group in progress, then the pool
    stopBoundMs: 2 * STOP_CLOSE_MS + 2000,
    done: ending.done,
    store,
    metrics: metricsRegistry,

    async start() {
      if (state !== 'new') throw new XrcError('XRC_USAGE', `applier already ${state}: start() is called once`)
      state = 'starting'
      try {
        await store.init().catch((err: unknown) => {
          throw postgresStartError(err, config.database.url)
        })
        lastApplied = await store.lastApplied()
        await store.readConsistency()
        if (lastApplied) metrics.consistencyTime.set(lastApplied.groupTime / 1e6)
        metrics.halted.set(0)
        const fromOffset = lastApplied ? lastApplied.journalOffset + 1 : 0
        log.info({ ...markFields(lastApplied), fromOffset, stopAtTime: options.stopAtTime }, 'applier starting')
        if (options.stopAtTime !== undefined && lastApplied && lastApplied.groupTime >= options.stopAtTime) {
          finish('stop-time')
          return
        }
        const codec =
          options.codec ??
          (await createCodec<JournalRecord>({
            registryUrl: config.schemaRegistry.url,
            subject: valueSubject(topic),
            schema: JOURNAL_SCHEMA,
          }))
        const kafka =
          options.kafka ??
          createKafka({
            brokers: config.kafka.brokers,
            clientId: `${config.kafka.clientId}-applier`,
            logger: options.logger,
          })
        if (options.publishApplied ?? true) {
          publisher = createAppliedPublisher({
            kafka,
            brokers: config.kafka.brokers,
            topic: sessionTopics(session).applied,
            registryUrl: config.schemaRegistry.url,
            secondary: schema,
            intervalMs: config.applier.feedbackMs,
            logger: log,
          })
          // what the secondary holds as it starts: a primary that has not heard yet learns it now
          publisher.note(appliedNote(session, schema, lastApplied, store.consistency()))
        }
        if (options.createJournalTopic ?? true) {
          // the applier may start before the mover: whichever starts first creates the journal
          const admin = await connectAdmin(kafka, config.kafka.brokers)
          try {
            await ensureTopic(admin, journalTopicSpec(topic, config.mover.journalRecordMaxBytes), log)
          } finally {
            await admin.disconnect()
          }
        }
        feed = createJournalFeed({
          kafka,
          topic,
          fromOffset,
          codec,
          logger: log,
          groupPrefix: `xrc.${session}.applier`,
          onGroup,
          onError: halt,
        })
        if ((state as ApplierState) !== 'starting') return // stop() came first
        state = 'running'
        await feed.start()
      } catch (err) {
        if ((state as ApplierState) === 'halted') return
        if (stopping.signal.aborted) return // stop() won the race; nothing to report
        log.error({ err }, 'applier could not start')
        haltError = err
        state = 'halted'
        metrics.halted.set(1)
        await teardown('halted')
        throw err
      }
    },

    async stop() {
      if (state === 'new' || state === 'starting' || state === 'running') {
        stopReason ??= 'requested'
        state = 'stopping'
      }
      stopping.abort(new XrcError('XRC_CLOSED', 'applier stopping'))
      await teardown('stopped')
    },

    status,

    health() {
      const s = status()
      const map: Record<ApplierState, HealthReport['status']> = {
        new: 'starting',
        starting: 'starting',
        running: 'ok',
        stopping: 'degraded',
        stopped: 'degraded',
        halted: 'halted',
      }
      return { ...s, status: map[s.state] }
    },

    async waitCaughtUp(waitOptions = {}) {
      if (feed === undefined || state !== 'running') {
        if (haltError !== undefined) throw haltError
        if (state === 'stopped' || state === 'stopping') return false
        throw new XrcError('XRC_USAGE', `applier is ${state}: start() it before waiting for it to catch up`)
      }
      const f = feed
      const end = waitOptions.untilOffset ?? (await f.endOffset())
      const outcome = await waitFor(
        `the applier of session ${session} to reach journal offset ${end}`,
        () => {
          if (haltError !== undefined) return 'halted' as const
          if (state !== 'running') return 'stopped' as const
          return f.position() >= end ? ('caught-up' as const) : undefined
        },
        { timeoutMs: waitOptions.timeoutMs ?? 60_000, intervalMs: 25 },
      )
      if (outcome === 'halted') throw haltError
      return outcome === 'caught-up'
    },
  }
}

function markFields(mark: AppliedMark | undefined): Record<string, number> {
  return mark ? { groupSeq: mark.groupSeq, groupTime: mark.groupTime, offset: mark.journalOffset } : {}
}
