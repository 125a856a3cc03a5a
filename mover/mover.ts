/**
 * The mover service (the patents' data mover, secondary half): reads every
 * partition of the session's updates topic (read_committed, explicit
 * offsets), decodes and checks each record set, feeds the group former,
 * cuts a consistency group as soon as T covers a waiting write (no sooner
 * than mover.groupMinIntervalMs after the last cut; every
 * mover.groupIntervalMs when only time moved; control/cutCadence.ts) and
 * journals its marker (schemas/markers.ts: the offsets and seqs it takes
 * from each updates partition, one record) in one Kafka transaction. A
 * marker lists the offsets set aside inside its ranges: groups are cut so
 * that they fit in mover.journalRecordMaxBytes (schemas/wireSizes.ts
 * markerSetAsideRoom).
 *
 * Control: one loop cuts and journals, and is the only place that restarts
 * the pipeline, so a restart never races a transaction. Its decisions are
 * the Supervisor's (control/supervisor.ts, pure): a failed or indefinite
 * journal write, or the reader giving up, restarts it: a new transactional
 * producer (settling the old transaction), the journal tail read again, a
 * new former restored from it, the partitions read again from the marks
 * (pipelineRun.ts). Nothing cut but not journaled is lost, nothing is
 * journaled twice. Being fenced, invalid input, a seq gap or a time
 * regression halts the mover with the reason in status() and the log.
 *
 * Bad input (see mover/intake/updatesIntake.ts): a record the mover cannot take goes to
 * the dead-letter topic with the reason; a controller whose stream it
 * breaks is frozen there (the consistency time waits for it, the other
 * controllers' writes are kept) and the session reports itself halted until
 * an operator's resume command (the control topic, `xrc session resume`)
 * names that record: then the pipeline restarts through it. Never a silent
 * skip.
 *
 * Backpressure: a partition whose buffered bytes exceed
 * mover.maxBufferedBytes is paused until groups drain it below half, so
 * memory does not grow with the backlog (the controller holding T back has
 * all of its buffer at or below T, so a paused partition always drains).
 */
import type { KafkaClient } from '../lib/kafka/index.js'
import { Registry } from 'prom-client'
import type { Config } from '../lib/config.js'
import { XrcError, isXrcError } from '../lib/errors.js'
import { createFaultPoints } from '../lib/faultPoints.js'
import {
  checkUpdatesRetention,
  connectAdmin,
  createKafkaClient,
  kafkaAccessError,
  stagePermissions,
} from '../lib/kafka/index.js'
import type { Logger } from '../lib/logger.js'
import type { HealthReport } from '../lib/metrics.js'
import { outageSource, outageStatus, type Outage } from '../lib/outage.js'
import { createOutageMetrics, type OutageMetrics } from '../lib/outageMetrics.js'
import { STOPPED, createStageEnding, endOf, settleWithin, type StageEnd } from '../lib/stage.js'
import { createCodec } from '../schemas/codec.js'
import type { ResumeCommand } from '../schemas/control.js'
import { JOURNAL_SCHEMA, type JournalRecord } from '../schemas/journal.js'
import { RECORD_SET_SCHEMA, type RecordSet } from '../schemas/recordSet.js'
import { sessionTopics, valueSubject, type SessionTopics } from '../schemas/topicNames.js'
import { Supervisor, WakeableSleep } from './control/index.js'
import type { FormedGroup } from './groups/index.js'
import { createBadInputDesk, type BadInputDesk, type SkewReading, type UpdatesIntake } from './intake/index.js'
import { markerSetAsideRoom } from '../schemas/wireSizes.js'
import { createJournalWriter, type JournalWriter, type StartPoint } from './journal/index.js'
import { journalHooks } from './journalHooks.js'
import type { Mover, MoverOptions, MoverState, MoverStatus } from './moverApi.js'
import { moverHealth } from './moverHealth.js'
import { countJournaled, createMoverMetrics, type MoverMetrics } from './moverMetrics.js'
import { awaitUpdatesTopic, ensureJournalTopic } from './moverTopics.js'
import { Pipeline, type PipelineDeps } from './pipelineRun.js'

export type { Mover, MoverOptions, MoverState, MoverStatus } from './moverApi.js'

/**
 * stop()'s bounds: how long it waits for the start or the group in progress to finish before it abandons
 * them, and for the Kafka clients to close (a broker that answers nothing would hold them for minutes).
 */
const STOP = { finishMs: 8000, closeMs: 5000 } as const

export function createMover(options: MoverOptions): Mover {
  const mover = new MoverService(options)
  return {
    name: 'mover',
    // the group in progress, then the reader, the writer and the dead-letter producer closing
    stopBoundMs: STOP.finishMs + STOP.closeMs + 2000,
    done: mover.done,
    metrics: mover.metrics,
    start: () => mover.start(),
    stop: (stopOptions) => mover.stop(stopOptions),
    status: () => mover.status(),
    health: () => mover.health(),
  }
}

/** The last group journaled (or found in the journal at a start). */
interface Journaled {
  groupSeq: number
  groupTime: number | undefined
}

/** The mover of one process: its lifecycle, its control loop, and the pipeline run it restarts. */
class MoverService {
  readonly metrics: Registry
  readonly #options: MoverOptions
  readonly #config: Config
  readonly #session: string
  readonly #topics: SessionTopics
  readonly #log: Logger
  readonly #kafka: KafkaClient
  readonly #moverMetrics: MoverMetrics
  readonly #outageMetrics: OutageMetrics
  /** The session's controller ids, ascending (= updates partitions). */
  readonly #controllerIds: number[]
  readonly #badInput: BadInputDesk
  readonly #supervisor: Supervisor
  readonly #sleep = new WakeableSleep()
  readonly #ending = createStageEnding()
  /** How the halt ends the stage: halted with its code, or failed when the cause was unexpected. */
  #haltEnd: StageEnd | undefined
  #state: MoverState = 'created'
  #starting: Promise<void> | undefined
  #control: Promise<void> | undefined
  #writer: JournalWriter | undefined
  /** The pipeline of the current run, replaced whole on every restart; made once the codecs are. */
  #pipeline: Pipeline | undefined
  #journaled: Journaled = { groupSeq: 0, groupTime: undefined }
  #startedFrom: StartPoint['source'] | undefined
  #groupsJournaled = 0
  /** Offsets set aside a marker may list (CutOptions.maxSetAside). */
  readonly #maxSetAside: number

  constructor(options: MoverOptions) {
    const { config } = options
    this.#options = options
    this.#config = config
    this.#session = config.session.name
    this.#topics = sessionTopics(this.#session)
    this.#log = options.logger.child({ component: 'mover', session: this.#session })
    this.#kafka =
      options.kafka ??
      createKafkaClient({
        connection: config.kafka,
        library: config.kafka.client,
        clientId: `${config.kafka.clientId}-mover`,
        logger: options.logger,
      })
    this.metrics = options.metrics ?? new Registry()
    this.#moverMetrics = createMoverMetrics(this.metrics)
    this.#controllerIds = config.session.controllers.map((c) => c.id).sort((a, b) => a - b)
    this.#maxSetAside = markerSetAsideRoom(
      this.#session,
      this.#controllerIds.length,
      config.mover.journalRecordMaxBytes,
    )
    this.#supervisor = new Supervisor({
      groupIntervalMs: config.mover.groupIntervalMs,
      groupMinIntervalMs: config.mover.groupMinIntervalMs,
      groupMaxBytes: config.mover.groupMaxBytes,
    })
    this.#outageMetrics = createOutageMetrics(this.metrics, 'mover', () => this.#supervisor.outage.current)
    this.#badInput = createBadInputDesk({
      kafka: this.#kafka,
      session: this.#session,
      topics: this.#topics,
      maxRecordSetBytes: config.mover.maxRecordSetBytes,
      replication: config.topics,
      metrics: this.#moverMetrics,
      logger: options.logger,
      log: this.#log,
      onResume: (command) => this.#onResume(command),
    })
  }

  // ---- lifecycle

  async start(): Promise<void> {
    if (this.#state !== 'created')
      throw new XrcError('XRC_USAGE', { reason: 'alreadyStarted', component: 'mover', state: this.#state })
    this.#state = 'starting'
    this.#starting = this.#startOnce()
    try {
      await this.#starting
    } catch (cause) {
      const err = this.#refusal(cause) ?? cause
      await this.#abandonStart(err)
      throw err
    }
    if (this.#supervisor.stopping) return // stop() was called while starting: it cleans up
    if (this.#supervisor.halt === undefined) this.#state = 'running'
    this.#control = this.#runControl()
      .catch((err: unknown) => this.#haltWith(err))
      .finally(async () => {
        await this.#pipeline?.release()
        if (this.#haltEnd !== undefined && !this.#supervisor.stopping) this.#ending.end(this.#haltEnd)
      })
  }

  async stop(stopOptions: { abort?: boolean } = {}): Promise<void> {
    if (this.#supervisor.stopping || this.#state === 'stopped') return this.#ending.done.then(() => undefined)
    this.#supervisor.stop()
    if (this.#state === 'created') {
      this.#state = 'stopped'
      this.#ending.end(STOPPED)
      return
    }
    if (this.#supervisor.halt === undefined) this.#state = 'stopping'
    if (stopOptions.abort) this.#writer?.abortInFlight()
    this.#sleep.wake()
    const finishBy = Date.now() + STOP.finishMs
    await settleWithin(this.#starting, STOP.finishMs)
    if (!(await settleWithin(this.#control, Math.max(0, finishBy - Date.now())))) {
      // Kafka out of reach: closing the writer abandons the transaction, as a crash would
      this.#log.warn({ waitedMs: STOP.finishMs }, 'the group in progress did not finish; abandoning its transaction')
      this.#writer?.abortInFlight()
    }
    const closing = (async () => {
      await this.#pipeline?.release()
      await this.#writer?.close()
      await this.#badInput.close()
    })()
    if (!(await settleWithin(closing, STOP.closeMs)))
      this.#log.warn({ waitedMs: STOP.closeMs }, 'the Kafka clients did not close in time; left to close by themselves')
    this.#state = this.#supervisor.halt === undefined ? 'stopped' : 'halted'
    this.#log.info({ groupSeq: this.#journaled.groupSeq, groupTime: this.#journaled.groupTime }, 'mover stopped')
    this.#ending.end(this.#haltEnd ?? STOPPED)
  }

  status(): MoverStatus {
    const run = this.#pipeline?.current
    const halt = this.#supervisor.halt
    const outage = halt === undefined ? outageStatus(this.#supervisor.outage.current, Date.now()) : undefined
    return {
      state: this.#state,
      session: this.#session,
      groupSeq: this.#journaled.groupSeq,
      groupTime: this.#journaled.groupTime,
      consistencyTime: run?.former.consistencyTime(),
      silentControllers: run?.former.silentControllers() ?? this.#controllerIds,
      bufferedBytes: Object.fromEntries(
        this.#controllerIds.map((id) => [String(id), run?.former.bufferedBytes(id) ?? 0]),
      ),
      pausedPartitions: run?.intake.paused() ?? [],
      lag: run?.intake.lag() ?? {},
      groupsJournaled: this.#groupsJournaled,
      duplicateRecordSets: this.#pipeline?.duplicateRecordSets() ?? 0,
      startedFrom: this.#startedFrom,
      frozen: run?.intake.frozen() ?? [],
      ...clockSkewStatus(run?.intake.clockSkew()),
      ...this.#badInput.counts(),
      ...(halt ? { halt: { code: halt.code, message: halt.message, context: halt.context } } : {}),
      ...(outage ? { outage } : {}),
    }
  }

  health(): HealthReport {
    return moverHealth(this.status())
  }

  get done(): Promise<StageEnd> {
    return this.#ending.done
  }

  // ---- starting

  async #startOnce(): Promise<void> {
    await this.#prepareTopics()
    const codecs = await this.#openCodecs()
    await this.#badInput.open()
    this.#writer = createJournalWriter({
      kafka: this.#kafka,
      // on kafkajs whatever kafka.client says: @platformatic/kafka 1.35 adds partitions with AddPartitionsToTxn v5,
      // which Kafka keeps for brokers (KIP-890): a broker with an authorizer refuses it to a client without
      // ClusterAction (CLUSTER_AUTHORIZATION_FAILED), so a mover granted only its own ACLs could journal nothing
      client: 'kafkajs',
      session: this.#session,
      topic: this.#topics.journal,
      codec: codecs.journal,
      maxRecordBytes: this.#config.mover.journalRecordMaxBytes,
      transactionTimeoutMs: this.#config.mover.transactionTimeoutMs,
      logger: this.#options.logger,
      hooks: journalHooks(createFaultPoints(this.#config.faults.point, this.#log), this.#options.hooks),
    })
    this.#pipeline = new Pipeline(this.#pipelineDeps(codecs))
    await this.#restartPipeline()
  }

  /** Waits for the updates topic; creates the journal topic when missing. */
  async #prepareTopics(): Promise<void> {
    const admin = await connectAdmin(this.#kafka)
    try {
      const partitions = Math.max(...this.#controllerIds) + 1
      await awaitUpdatesTopic(admin, this.#topics.updates, partitions, this.#options.topicWaitMs ?? 30_000)
      await ensureJournalTopic(
        admin,
        this.#topics.journal,
        this.#config.mover.journalRecordMaxBytes,
        this.#log,
        this.#config.topics,
      )
      // the updates topic is the journal's data: it must keep updates as long as the journal keeps markers
      await checkUpdatesRetention(admin, this.#topics.updates, this.#topics.journal)
    } finally {
      await admin.disconnect()
    }
  }

  async #openCodecs(): Promise<PipelineDeps['codecs']> {
    const registry = this.#config.schemaRegistry
    const { updates: updatesTopic, journal: journalTopic } = this.#topics
    const [updates, journal] = await Promise.all([
      createCodec<RecordSet>({ registry, subject: valueSubject(updatesTopic), schema: RECORD_SET_SCHEMA }),
      createCodec<JournalRecord>({ registry, subject: valueSubject(journalTopic), schema: JOURNAL_SCHEMA }),
    ])
    return { updates, journal }
  }

  #pipelineDeps(codecs: PipelineDeps['codecs']): PipelineDeps {
    return {
      kafka: this.#kafka,
      config: this.#config,
      topics: this.#topics,
      controllers: this.#controllerIds,
      codecs,
      badInput: this.#badInput,
      metrics: this.#moverMetrics,
      logger: this.#options.logger,
      log: this.#log,
      onRestart: (intake, err) => this.#restartFor(intake, err),
      onHalt: (err) => this.#haltWith(err),
      onCuttable: () => this.#sleep.wake(),
    }
  }

  /** start() failed: whatever it opened is closed, and the mover is stopped; `done` says why. */
  async #abandonStart(err: unknown): Promise<void> {
    await this.#pipeline?.release()
    await this.#writer
      ?.close()
      .catch((closeErr: unknown) => this.#log.warn({ err: closeErr }, 'closing the journal writer failed'))
    await this.#badInput.close()
    this.#state = 'stopped'
    this.#ending.end(endOf(err))
  }

  // ---- halts and restart requests

  /** Kafka refusing this mover (a login, a certificate, an ACL) as the catalogue's error naming what it needs. */
  #refusal(err: unknown): XrcError | undefined {
    return kafkaAccessError(err, this.#config.kafka, {
      permissions: stagePermissions(this.#session, 'mover'),
      logged: this.#kafka.lastRefusal(),
    })
  }

  #haltWith(cause: unknown): void {
    const err = this.#refusal(cause) ?? cause
    // stopping: what fails now is the teardown's doing (a closed writer), not a reason to halt
    if (this.#supervisor.stopping && isXrcError(err, 'XRC_CLOSED')) return
    const halt = this.#supervisor.haltWith(err)
    if (halt === undefined) return
    this.#haltEnd = endOf(err)
    this.#state = 'halted'
    this.#pipeline?.current?.intake.close()
    this.#pipeline?.current?.reader.pause(this.#controllerIds)
    this.#moverMetrics.halted.set(1)
    this.#log.error({ err: halt, code: halt.code, context: halt.context }, `mover halted: ${halt.message}`)
    this.#sleep.wake()
  }

  /** Retriable trouble in the intake (the registry, the dead-letter topic) or the reader: restart the pipeline. */
  #restartFor(intake: UpdatesIntake, err: unknown): void {
    if (this.#pipeline?.current?.intake !== intake || this.#supervisor.restartPending) return
    const outage = this.#supervisor.outage.failed(outageSource(err, 'kafka'), err, Date.now())
    this.#outageMetrics.retried(outage.source)
    this.#log.warn({ err, source: outage.source, retries: outage.retries }, 'restarting the pipeline')
    this.#supervisor.requestRestart(err)
    this.#sleep.wake()
  }

  /**
   * A resume command for a record a controller is frozen at now:
   * restart the pipeline through it (re-read from the journal marks).
   */
  #onResume(command: ResumeCommand): void {
    const frozen = this.#pipeline?.current?.intake
      .frozen()
      .find((f) => f.partition === command.partition && f.offset === command.offset)
    if (frozen === undefined || this.#supervisor.restartPending) return
    this.#supervisor.requestRestart(
      new XrcError('XRC_CONTROLLER_FROZEN', {
        reason: 'operatorResumed',
        controller: command.controller,
        offset: String(command.offset),
      }),
    )
    this.#sleep.wake()
  }

  // ---- the pipeline of a run

  /**
   * New producer, journal tail, former, intake and reader. Called by start() and, after it, only by the control loop.
   */
  async #restartPipeline(): Promise<void> {
    const pipeline = this.#pipeline
    await pipeline?.release()
    if (this.#writer === undefined || pipeline === undefined) throw new Error('restartPipeline before start')
    await this.#writer.open() // settles any earlier transaction before the tail is read
    const run = await pipeline.prepare()
    const { checkpoint, source, offsets } = run.start
    this.#journaled = { groupSeq: checkpoint?.groupSeq ?? 0, groupTime: checkpoint?.groupTime }
    this.#startedFrom = source
    this.#log.info({ source, ...this.#journaled, offsets: Object.fromEntries(offsets) }, 'reading the updates topic')
    this.#moverMetrics.frozenControllers.set(0)
    this.#moverMetrics.halted.set(0)
    await pipeline.begin(run)
  }

  // ---- the control loop

  /** Cuts and journals groups until stopped or halted; the only place that restarts the pipeline. */
  async #runControl(): Promise<void> {
    for (;;) {
      const cuttable = (limit: number): number => this.#pipeline?.current?.former.cuttableBytes(limit) ?? 0
      const step = this.#supervisor.next(Date.now(), cuttable)
      if (step.kind === 'exit') return
      if (step.kind === 'restart') {
        await this.#restart()
        continue
      }
      if (step.waitMs > 0) {
        // woken early (a write became cuttable, a stop, a restart request): the step is asked again, so a cut
        // still keeps the floor (mover.groupMinIntervalMs) and a stop is not delayed by one more group
        await this.#sleep.sleep(step.waitMs)
        continue
      }
      if (!(await this.#cutAndJournal())) return
    }
  }

  /** One restart of the pipeline; a failure halts or waits out the supervisor's backoff. */
  async #restart(): Promise<void> {
    this.#state = 'recovering'
    this.#supervisor.beginRestart()
    try {
      await this.#restartPipeline()
      this.#outageEnded(this.#supervisor.restarted())
      if (this.#supervisor.halt === undefined) this.#state = 'running'
    } catch (err) {
      const verdict = this.#supervisor.restartFailed(err, Date.now())
      if (verdict.kind === 'halt') return this.#haltWith(verdict.error)
      const outage = this.#supervisor.outage.current as Outage
      this.#outageMetrics.retried(outage.source)
      this.#log.warn(
        { err, attempt: verdict.failures, delayMs: verdict.delayMs, source: outage.source },
        'restarting the mover failed; trying again as long as the outage lasts',
      )
      await this.#sleep.sleep(verdict.delayMs)
    }
  }

  /** Logs the end of an outage the mover rode out (nothing when there was none). */
  #outageEnded(outage: Outage | undefined): void {
    if (outage === undefined) return
    const { source, retries } = outage
    this.#log.info({ source, retries, lastedMs: Date.now() - outage.since }, 'the outage is over: the mover goes on')
  }

  /** Cuts the next group (if anything moved) and journals it; false when the loop must end. */
  async #cutAndJournal(): Promise<boolean> {
    const run = this.#pipeline?.current
    const writer = this.#writer
    if (!this.#supervisor.mayCut() || run === undefined || writer === undefined) return true
    const group = run.former.cut({ maxBytes: this.#config.mover.groupMaxBytes, maxSetAside: this.#maxSetAside })
    this.#supervisor.cadence.cutAt(Date.now())
    if (group === undefined) return true
    try {
      await writer.write(group)
    } catch (err) {
      return this.#journalFailed(group, err)
    }
    this.#outageEnded(this.#supervisor.journaled())
    this.#onJournaled(group)
    return true
  }

  /**
   * A group was not journaled: restart from the journal tail (after the backoff when writes keep failing), or
   * halt; false when the loop must end.
   */
  async #journalFailed(group: FormedGroup, err: unknown): Promise<boolean> {
    const verdict = this.#supervisor.journalFailed(err, Date.now())
    if (verdict.kind === 'exit') return false
    if (isXrcError(err, 'XRC_JOURNAL_WRITE_FAILED')) {
      this.#moverMetrics.journalFailures.inc()
      this.#log.warn(
        { err, groupSeq: group.groupSeq, committed: err.context.committed },
        'journaling a group failed; restarting from the journal tail',
      )
    }
    if (verdict.kind === 'halt') {
      this.#haltWith(verdict.error)
      return false
    }
    this.#outageMetrics.retried('kafka')
    if (verdict.delayMs > 0) await this.#sleep.sleep(verdict.delayMs)
    return true
  }

  #onJournaled(group: FormedGroup): void {
    this.#journaled = { groupSeq: group.groupSeq, groupTime: group.groupTime }
    this.#groupsJournaled++
    countJournaled(this.#moverMetrics, group)
    this.#pipeline?.current?.intake.drained(this.#controllerIds)
    this.#badInput.journaled(group.controllers)
    this.#log.debug(
      { groupSeq: group.groupSeq, groupTime: group.groupTime, blocks: group.blocks, bytes: group.bytes },
      'group journaled',
    )
  }
}

/** The status' clock skew figures (milliseconds) from the intake's reading. */
function clockSkewStatus(r: SkewReading | undefined): Pick<MoverStatus, 'clockSkew'> {
  if (r === undefined) return {}
  const offsetsMs = Object.fromEntries([...r.offsets].map(([c, o]) => [String(c), Math.round(o / 1000)]))
  return { clockSkew: { skewMs: Math.round(r.skewUs / 1000), offsetsMs } }
}
