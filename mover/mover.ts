/**
 * The mover service (the patents' data mover, secondary half): reads every
 * partition of the session's updates topic (read_committed, explicit
 * offsets), decodes and checks each record set, feeds the group former,
 * cuts a consistency group every mover.groupIntervalMs (sooner when
 * mover.groupMaxBytes wait) and journals it in one Kafka transaction.
 *
 * Control: one loop cuts and journals, and is the only place that restarts
 * the pipeline, so a restart never races a transaction. A failed or
 * indefinite journal write, or the reader giving up, restarts it: a new
 * transactional producer (settling the old transaction), the journal tail
 * read again, a new former restored from it, the partitions read again from
 * the marks. Nothing cut but not journaled is lost, nothing is journaled
 * twice. Being fenced, invalid input, a seq gap or a time regression halts
 * the mover with the reason in status() and the log.
 *
 * Bad input (see updatesIntake.ts): a record the mover cannot take goes to
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
import { Registry } from 'prom-client'
import { XrcError, errorMessage, isXrcError } from '../lib/errors.js'
import { createFaultPoints } from '../lib/faultPoints.js'
import { connectAdmin, createKafka } from '../lib/kafka/index.js'
import { createPartitionReader, type PartitionReader } from '../lib/kafka/index.js'
import { createCodec, type AvroCodec } from '../schemas/codec.js'
import type { ResumeCommand } from '../schemas/control.js'
import { JOURNAL_SCHEMA, type ConsistencyGroup, type JournalRecord } from '../schemas/journal.js'
import { RECORD_SET_SCHEMA, type RecordSet } from '../schemas/recordSet.js'
import { moverGroupId, sessionTopics, valueSubject } from '../schemas/topicNames.js'
import { createBadInputDesk } from './intake/index.js'
import { createGroupFormer, type FormedGroup, type GroupFormer } from './groups/index.js'
import { createJournalWriter, type JournalWriter } from './journal/index.js'
import type { Mover, MoverOptions, MoverState, MoverStatus } from './moverApi.js'
import { createMoverMetrics } from './moverMetrics.js'
import { awaitUpdatesTopic, ensureJournalTopic } from './moverTopics.js'
import { findStartPoint, type StartPoint } from './journal/index.js'
import { createUpdatesIntake, frozenMessage, type UpdatesIntake } from './intake/index.js'

export type { Mover, MoverOptions, MoverState, MoverStatus } from './moverApi.js'

/** Restarts in a row (failed journal writes, reader crashes) before the mover halts. */
const RESTART = { attempts: 8, initialDelayMs: 250, maxDelayMs: 8000 } as const

export function createMover(options: MoverOptions): Mover {
  const { config } = options
  const session = config.session.name
  const topics = sessionTopics(session)
  const log = options.logger.child({ component: 'mover', session })
  const kafka =
    options.kafka ??
    createKafka({ brokers: config.kafka.brokers, clientId: `${config.kafka.clientId}-mover`, logger: options.logger })
  const registry = options.metrics ?? new Registry()
  const metrics = createMoverMetrics(registry)
  const controllerIds = config.session.controllers.map((c) => c.id).sort((a, b) => a - b)
  const { maxBufferedBytes, groupMaxBytes, groupIntervalMs } = config.mover

  let state: MoverState = 'created'
  let halt: XrcError | undefined
  let stopping = false
  let starting: Promise<void> | undefined
  let codecs: { updates: AvroCodec<RecordSet>; journal: AvroCodec<JournalRecord> } | undefined
  let writer: JournalWriter | undefined
  const badInput = createBadInputDesk({
    kafka,
    session,
    topics,
    maxRecordSetBytes: config.mover.maxRecordSetBytes,
    metrics,
    logger: options.logger,
    log,
    onResume,
  })
  const faults = createFaultPoints(config.faults.point, log)
  /** The pipeline of the current run: replaced whole on every restart. */
  let run: { former: GroupFormer; intake: UpdatesIntake; reader: PartitionReader } | undefined
  let journaled: { groupSeq: number; groupTime: number | undefined } = { groupSeq: 0, groupTime: undefined }
  let startedFrom: StartPoint['source'] | undefined
  let restartReason: unknown
  let groupsJournaled = 0
  let earlierDuplicates = 0
  let control: Promise<void> | undefined
  let wake: (() => void) | undefined
  let resolveDone: (s: MoverStatus) => void = () => undefined
  const done = new Promise<MoverStatus>((resolve) => (resolveDone = resolve))

  function haltWith(err: unknown): void {
    if (halt !== undefined) return
    halt =
      err instanceof XrcError
        ? err
        : new XrcError('XRC_SESSION_HALTED', `mover halted: ${errorMessage(err)}`, { cause: err })
    state = 'halted'
    run?.intake.close()
    run?.reader.pause(controllerIds)
    metrics.halted.set(1)
    log.error({ err: halt, code: halt.code, context: halt.context }, `mover halted: ${halt.message}`)
    wake?.()
  }

  /** Retriable trouble in the intake (the registry, the dead-letter topic): restart the pipeline. */
  function restartFor(intake: UpdatesIntake, err: unknown): void {
    if (run?.intake !== intake || restartReason !== undefined) return
    log.warn({ err }, 'restarting the pipeline')
    restartReason = err
    wake?.()
  }

  /** A resume command for a record a controller is frozen at now: restart the pipeline through it (re-read from the journal marks). */
  function onResume(command: ResumeCommand): void {
    const frozen = run?.intake.frozen().find((f) => f.partition === command.partition && f.offset === command.offset)
    if (frozen === undefined || restartReason !== undefined) return
    restartReason = new XrcError(
      'XRC_CONTROLLER_FROZEN',
      `operator resumed controller ${command.controller} at offset ${command.offset}`,
    )
    wake?.()
  }

  /** Drops the current run: its reader stops, its callbacks are ignored from now on. */
  async function release(): Promise<void> {
    const r = run
    if (r === undefined) return
    run = undefined
    earlierDuplicates += r.intake.duplicateRecordSets()
    r.intake.close()
    await r.reader.stop().catch((err: unknown) => log.warn({ err }, 'stopping the updates reader failed'))
  }

  /** New producer, journal tail, former, intake and reader. Called by start() and, after it, only by the control loop. */
  async function restartPipeline(): Promise<void> {
    await release()
    if (writer === undefined || codecs === undefined) throw new Error('restartPipeline before start')
    await writer.open() // settles any earlier transaction before the tail is read
    const start = await findStartPoint({
      kafka,
      session,
      journalTopic: topics.journal,
      updatesTopic: topics.updates,
      controllers: controllerIds,
      codec: codecs.journal,
      logger: options.logger,
    })
    const former = createGroupFormer({
      layout: config.session,
      ...(start.checkpoint ? { restore: start.checkpoint } : {}),
    })
    journaled = { groupSeq: start.checkpoint?.groupSeq ?? 0, groupTime: start.checkpoint?.groupTime }
    startedFrom = start.source
    log.info(
      {
        source: start.source,
        groupSeq: journaled.groupSeq,
        groupTime: journaled.groupTime,
        offsets: Object.fromEntries(start.offsets),
      },
      'reading the updates topic',
    )
    // intake is made just below; the reader calls it only once started
    const reader: PartitionReader = createPartitionReader({
      kafka,
      topic: topics.updates,
      from: start.offsets,
      isolation: 'read_committed',
      // memory per partition stays under twice the bound: what is buffered plus one fetch
      maxBytesPerPartition: Math.min(4 * 1024 * 1024, maxBufferedBytes),
      groupPrefix: moverGroupId(session),
      logger: options.logger,
      onBatch: (batch) => intake.onBatch(batch),
      onCrash: (err) => restartFor(intake, err),
    })
    const intake = createUpdatesIntake({
      former,
      controllers: controllerIds,
      codec: codecs.updates,
      startOffsets: start.offsets,
      maxRecordSetBytes: config.mover.maxRecordSetBytes,
      maxBufferedBytes,
      groupMaxBytes,
      metrics,
      logger: log,
      pause: (partitions) => reader.pause(partitions),
      resume: (partitions) => reader.resume(partitions),
      deadLetter: (letter) => badInput.deadLetter(letter),
      decision: (partition, offset) => badInput.decision(partition, offset),
      onFreeze: (frozen) => badInput.frozen(frozen, intake.frozen().length),
      onDiscard: (d, command) => badInput.discarded(d, command),
      onRestart: (err) => restartFor(intake, err),
      onHalt: haltWith,
      onFull: () => wake?.(),
    })
    run = { former, intake, reader }
    metrics.frozenControllers.set(0)
    metrics.halted.set(0)
    await reader.start()
  }

  function pauseFor(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(timer)
        wake = undefined
        resolve()
      }
      const timer = setTimeout(finish, ms)
      wake = finish
    })
  }

  function onJournaled(group: FormedGroup): void {
    journaled = { groupSeq: group.groupSeq, groupTime: group.groupTime }
    groupsJournaled++
    metrics.groupsJournaled.inc()
    metrics.updatesJournaled.inc(group.updates.length)
    metrics.bytesJournaled.inc(group.bytes)
    metrics.groupBytes.observe(group.bytes)
    metrics.consistencyTime.set(group.groupTime / 1e6)
    run?.intake.drained(controllerIds)
    badInput.journaled(group.controllers)
    log.debug(
      { groupSeq: group.groupSeq, groupTime: group.groupTime, updates: group.updates.length, bytes: group.bytes },
      'group journaled',
    )
  }

  /** Cuts and journals groups until stopped or halted; the only place that restarts the pipeline. */
  async function runControl(): Promise<void> {
    let failures = 0
    let delay: number = RESTART.initialDelayMs
    // Cuts keep a fixed cadence: the interval counts from the previous cut, not from the end of its journal
    // write, so a write waits at most groupIntervalMs for its cut instead of that plus a transaction
    // (bench/: RPO, see BENCHMARKS.md).
    let lastCutAt = 0
    const gaveUp = (err: unknown): boolean => {
      failures++
      if (failures < RESTART.attempts) return false
      haltWith(
        new XrcError(
          isXrcError(err) ? err.code : 'XRC_SESSION_HALTED',
          `mover gave up after ${failures} failed attempts in a row: ${errorMessage(err)}`,
          { cause: err },
        ),
      )
      return true
    }
    while (!stopping && halt === undefined) {
      if (restartReason !== undefined) {
        state = 'recovering'
        try {
          await restartPipeline()
          restartReason = undefined
          state = 'running'
        } catch (err) {
          // a journal that does not decode or a topic that does not fit will not mend by trying again
          if ((isXrcError(err) && !err.retriable) || gaveUp(err)) return haltWith(err)
          log.warn({ err, attempt: failures }, 'restarting the mover failed; trying again')
          await pauseFor(Math.round(Math.random() * delay))
          delay = Math.min(delay * 2, RESTART.maxDelayMs)
        }
        continue
      }
      const untilCut = lastCutAt + groupIntervalMs - Date.now()
      if (untilCut > 0 && (run?.former.cuttableBytes(groupMaxBytes) ?? 0) < groupMaxBytes) await pauseFor(untilCut)
      if (stopping || halt !== undefined || restartReason !== undefined || run === undefined || writer === undefined)
        continue
      const group = run.former.cut({ maxBytes: groupMaxBytes })
      lastCutAt = Date.now()
      if (group === undefined) continue
      try {
        await writer.write(group)
        failures = 0
        delay = RESTART.initialDelayMs
        onJournaled(group)
      } catch (err) {
        if (isXrcError(err, 'XRC_CLOSED')) return
        if (!isXrcError(err, 'XRC_JOURNAL_WRITE_FAILED')) return haltWith(err) // fenced, or a sizing bug
        metrics.journalFailures.inc()
        log.warn(
          { err, groupSeq: group.groupSeq, committed: err.context.committed },
          'journaling a group failed; restarting from the journal tail',
        )
        if (gaveUp(err)) return
        restartReason = err
      }
    }
  }

  async function startOnce(): Promise<void> {
    const admin = await connectAdmin(kafka, config.kafka.brokers)
    try {
      await awaitUpdatesTopic(admin, topics.updates, Math.max(...controllerIds) + 1, options.topicWaitMs ?? 30_000)
      await ensureJournalTopic(admin, topics.journal, config.mover.journalRecordMaxBytes, log)
    } finally {
      await admin.disconnect()
    }
    const registryUrl = config.schemaRegistry.url
    const [updates, journal] = await Promise.all([
      createCodec<RecordSet>({ registryUrl, subject: valueSubject(topics.updates), schema: RECORD_SET_SCHEMA }),
      createCodec<JournalRecord>({ registryUrl, subject: valueSubject(topics.journal), schema: JOURNAL_SCHEMA }),
    ])
    codecs = { updates, journal }
    await badInput.open()
    writer = createJournalWriter({
      kafka,
      session,
      topic: topics.journal,
      updatesTopic: topics.updates,
      codec: journal,
      maxRecordBytes: config.mover.journalRecordMaxBytes,
      transactionTimeoutMs: config.mover.transactionTimeoutMs,
      logger: options.logger,
      hooks: {
        beforeCommit: async (group) => {
          faults.reach('mover.before-commit')
          await options.hooks?.beforeCommit?.(group)
        },
        // only when asked for: the point waits 1 ms, so that the commit request is on the wire when it fires
        ...(faults.isArmed('mover.during-commit') || options.hooks?.duringCommit
          ? {
              duringCommit: async (group: ConsistencyGroup) => {
                if (faults.isArmed('mover.during-commit')) {
                  await new Promise((resolve) => setTimeout(resolve, 1))
                  faults.reach('mover.during-commit')
                }
                await options.hooks?.duringCommit?.(group)
              },
            }
          : {}),
        afterCommit: async (group) => {
          faults.reach('mover.after-commit')
          await options.hooks?.afterCommit?.(group)
        },
      },
    })
    await restartPipeline()
  }

  const mover: Mover = {
    metrics: registry,

    async start() {
      if (state !== 'created') throw new XrcError('XRC_USAGE', `mover already ${state}: make a new one`)
      state = 'starting'
      starting = startOnce()
      try {
        await starting
      } catch (err) {
        await release()
        await writer
          ?.close()
          .catch((closeErr: unknown) => log.warn({ err: closeErr }, 'closing the journal writer failed'))
        await badInput.close()
        state = 'stopped'
        resolveDone(mover.status())
        throw err
      }
      if (stopping) return // stop() was called while starting: it cleans up
      if (halt === undefined) state = 'running'
      control = runControl()
        .catch((err: unknown) => haltWith(err))
        .finally(async () => {
          await release()
          if (halt !== undefined && !stopping) resolveDone(mover.status())
        })
    },

    async stop(stopOptions = {}) {
      if (stopping || state === 'stopped') return done.then(() => undefined)
      stopping = true
      if (state === 'created') {
        state = 'stopped'
        resolveDone(mover.status())
        return
      }
      if (halt === undefined) state = 'stopping'
      if (stopOptions.abort) writer?.abortInFlight()
      wake?.()
      await starting?.catch(() => undefined)
      await control
      await release()
      await writer?.close()
      await badInput.close()
      state = halt === undefined ? 'stopped' : 'halted'
      log.info({ groupSeq: journaled.groupSeq, groupTime: journaled.groupTime }, 'mover stopped')
      resolveDone(mover.status())
    },

    status() {
      return {
        state,
        session,
        groupSeq: journaled.groupSeq,
        groupTime: journaled.groupTime,
        consistencyTime: run?.former.consistencyTime(),
        silentControllers: run?.former.silentControllers() ?? controllerIds,
        bufferedBytes: Object.fromEntries(controllerIds.map((id) => [String(id), run?.former.bufferedBytes(id) ?? 0])),
        pausedPartitions: run?.intake.paused() ?? [],
        lag: run?.intake.lag() ?? {},
        groupsJournaled,
        duplicateRecordSets: earlierDuplicates + (run?.intake.duplicateRecordSets() ?? 0),
        startedFrom,
        frozen: run?.intake.frozen() ?? [],
        ...badInput.counts(),
        ...(halt ? { halt: { code: halt.code, message: halt.message, context: halt.context } } : {}),
      }
    },

    health() {
      const s = mover.status()
      // a frozen controller halts the session (T waits for it) even though the mover runs
      const status =
        s.halt || s.frozen.length > 0
          ? 'halted'
          : s.state === 'running'
            ? 'ok'
            : s.state === 'recovering'
              ? 'degraded'
              : 'starting'
      const reason = s.halt ? `${s.halt.code}: ${s.halt.message}` : s.frozen.map((f) => frozenMessage(f)).join('; ')
      return { ...s, status, ...(reason ? { reason } : {}) }
    },

    done: () => done,
  }
  return mover
}
