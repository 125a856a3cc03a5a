/**
 * One run of the mover's pipeline: the start point read from the journal's
 * tail, a group former restored from it, the updates reader from its marks
 * and the intake that feeds the former. The mover replaces a run whole on
 * every restart, so nothing cut but not journaled survives into the next
 * one (it is read again from the marks) and a dropped run's callbacks are
 * told apart by their intake.
 */
import type { KafkaClient } from '../lib/kafka/index.js'
import type { Config } from '../lib/config.js'
import type { Logger } from '../lib/logger.js'
import { createPartitionReader, type PartitionReader } from '../lib/kafka/index.js'
import type { AvroCodec } from '../schemas/codec.js'
import type { JournalRecord } from '../schemas/journal.js'
import type { RecordSet } from '../schemas/recordSet.js'
import { moverGroupId, type SessionTopics } from '../schemas/topicNames.js'
import { createGroupFormer, type GroupFormer } from './groups/index.js'
import type { BadInputDesk } from './intake/index.js'
import { ClockSkew, createUpdatesIntake, type UpdatesIntake } from './intake/index.js'
import { findStartPoint, type StartPoint } from './journal/index.js'
import type { MoverMetrics } from './moverMetrics.js'

/** The pipeline of one run: made by prepareRun, started by Pipeline.begin, dropped by Pipeline.release. */
export interface PipelineRun {
  readonly start: StartPoint
  readonly former: GroupFormer
  readonly intake: UpdatesIntake
  readonly reader: PartitionReader
}

export interface PipelineDeps {
  kafka: KafkaClient
  config: Config
  topics: SessionTopics
  /** The session's controller ids, ascending (= updates partitions). */
  controllers: readonly number[]
  codecs: { updates: AvroCodec<RecordSet>; journal: AvroCodec<JournalRecord> }
  badInput: BadInputDesk
  metrics: MoverMetrics
  /** The process's logger (the readers make their own children). */
  logger: Logger
  /** The mover's logger. */
  log: Logger
  /** Retriable trouble in this run's intake or reader: restart the pipeline. */
  onRestart(intake: UpdatesIntake, err: unknown): void
  /** A bug, not bad input: halt. */
  onHalt(err: unknown): void
  /** A write became cuttable: the control loop cuts without waiting out an idle interval. */
  onCuttable(): void
}

/**
 * Reads the start point and builds a run on it, not yet reading. Call only
 * after the journal writer claimed the transactional id (see
 * journal/journalTail.ts): then the journal's end is final while it is read.
 */
export async function prepareRun(deps: PipelineDeps): Promise<PipelineRun> {
  const start = await findStartPoint({
    kafka: deps.kafka,
    session: deps.config.session.name,
    journalTopic: deps.topics.journal,
    controllers: deps.controllers,
    codec: deps.codecs.journal,
    logger: deps.logger,
  })
  const former = createGroupFormer({
    layout: deps.config.session,
    ...(start.checkpoint ? { restore: start.checkpoint } : {}),
  })
  return wireRun(deps, start, former)
}

/** The reader and the intake of a run, each calling the other. */
function wireRun(deps: PipelineDeps, start: StartPoint, former: GroupFormer): PipelineRun {
  const { maxBufferedBytes, maxRecordSetBytes } = deps.config.mover
  const { badInput } = deps
  // intake is made just below; the reader calls it only once started
  const reader: PartitionReader = createPartitionReader({
    kafka: deps.kafka,
    library: deps.config.kafka.client,
    topic: deps.topics.updates,
    from: start.offsets,
    isolation: 'read_committed',
    // memory per partition stays under twice the bound: what is buffered plus one fetch
    maxBytesPerPartition: Math.min(4 * 1024 * 1024, maxBufferedBytes),
    groupPrefix: moverGroupId(deps.config.session.name),
    logger: deps.logger,
    onBatch: (batch) => intake.onBatch(batch),
    onCrash: (err) => deps.onRestart(intake, err),
  })
  const intake = createUpdatesIntake({
    former,
    controllers: deps.controllers,
    codec: deps.codecs.updates,
    startOffsets: start.offsets,
    maxRecordSetBytes,
    maxBufferedBytes,
    metrics: deps.metrics,
    logger: deps.log,
    pause: (partitions) => reader.pause(partitions),
    resume: (partitions) => reader.resume(partitions),
    deadLetter: (letter) => badInput.deadLetter(letter),
    decision: (partition, offset) => badInput.decision(partition, offset),
    onFreeze: (frozen) => badInput.frozen(frozen, intake.frozen().length),
    onDiscard: (d, command) => badInput.discarded(d, command),
    onRestart: (err) => deps.onRestart(intake, err),
    onHalt: (err) => deps.onHalt(err),
    onCuttable: () => deps.onCuttable(),
    ...clockSkewOf(deps.config.mover),
  })
  return { start, former, intake, reader }
}

/**
 * The run's clock skew check (intake/clockSkew.ts), unless mover.maxClockSkewMs is 0: estimates over windows of
 * the sustain time (at least 1 s), so a controller's estimate covers the last one to two of them.
 */
function clockSkewOf(mover: { maxClockSkewMs: number; clockSkewSustainMs: number }): { clockSkew?: ClockSkew } {
  if (mover.maxClockSkewMs === 0) return {}
  const sustainUs = mover.clockSkewSustainMs * 1000
  return {
    clockSkew: new ClockSkew({
      maxSkewUs: mover.maxClockSkewMs * 1000,
      windowUs: Math.max(1_000_000, sustainUs),
      sustainUs,
    }),
  }
}

/** The mover's current run, replaced whole on every restart. */
export class Pipeline {
  readonly #deps: PipelineDeps
  #run: PipelineRun | undefined
  /** Duplicate record sets counted by runs released before the current one. */
  #earlierDuplicates = 0

  constructor(deps: PipelineDeps) {
    this.#deps = deps
  }

  /** The current run; undefined between a release and the next begin. */
  get current(): PipelineRun | undefined {
    return this.#run
  }

  /** A new run on the journal's tail, not yet current (see prepareRun). */
  prepare(): Promise<PipelineRun> {
    return prepareRun(this.#deps)
  }

  /** Makes `run` current, then starts reading (its callbacks may come before start() returns). */
  async begin(run: PipelineRun): Promise<void> {
    this.#run = run
    await run.reader.start()
  }

  /** Drops the current run: its intake takes nothing more, its reader stops (a failed stop is only logged). */
  async release(): Promise<void> {
    const run = this.#run
    if (run === undefined) return
    this.#run = undefined
    this.#earlierDuplicates += run.intake.duplicateRecordSets()
    run.intake.close()
    await run.reader.stop().catch((err: unknown) => this.#deps.log.warn({ err }, 'stopping the updates reader failed'))
  }

  /** Record sets dropped as re-sends by every run so far. */
  duplicateRecordSets(): number {
    return this.#earlierDuplicates + (this.#run?.intake.duplicateRecordSets() ?? 0)
  }
}
