/**
 * One whole bench run on its own session, in this order:
 *   1. Kafka's ceiling (ProducerPerformance, with the CPU of its JVM and of
 *      the broker, then kafkajs sendBatch, then the primary's producer on
 *      each Kafka client library, then 300 one-record transactions on each,
 *      as the mover journals markers) on a 4-partition topic of the session,
 *      nothing else running;
 *   2. the pipeline (three stage processes): warm-up; the highest sustained
 *      rate (windowed closed loop); RPO at 50% and 80% of it (open loop);
 *      the same writes as the 50% phase to plain files (write-path cost);
 *      then the applier stopped, a backlog written and journaled, and a
 *      fresh applier started late to catch up, with 1x and 10x the backlog;
 *      then, for each Kafka client library in turn, the pipeline again with
 *      its hot path on it (kafka.client: the primary's producer, the mover's
 *      and applier's readers): warm-up and the highest sustained rate, with
 *      each stage's CPU;
 *   3. PostgreSQL's ceiling (COPY into the store's tables, with the CPU of
 *      the bench's process and of the backend), with transactions the size
 *      of the pipeline's median group at its top rate.
 * The ceilings run alone, so the pipeline never competes with them.
 */
import { loadConfig, type Config } from '../lib/config.js'
import { KAFKA_FRAMING_BYTES } from '../lib/kafka/index.js'
import { stackPaths } from '../stack/paths.js'
import type { BenchSession } from './benchSession.js'
import { KAFKA_CLIENTS, type KafkaClientName } from '../lib/kafka/client/index.js'
import {
  clientSend,
  clientTransactions,
  kafkajsSendBatch,
  producerPerformance,
  readBrokerPid,
  type CeilingCpu,
  type ThroughputResult,
} from './kafkaCeiling.js'
import { loadAverage } from './machine.js'
import { startPipeline, type PhaseOutcome, type PipelineHarness } from './pipelineHarness.js'
import { postgresCopyCeiling, type CopyCeilingResult } from './postgresCeiling.js'
import type { BenchProfile } from './profiles.js'
import { fillVolumes, type FillResult } from './fill.js'
import { nowMs } from './protocol.js'
import type { ProcessUsage } from './resourceMonitor.js'
import { concat, differences, latencySummary, median, round, type LatencySummary } from './stats.js'

/** CPU per mirrored block (µs) and memory (MiB) of each process, in one phase. */
export interface StageUsage {
  cpuUsPerBlock: number
  /** The kernel's part of cpuUsPerBlock. */
  sysUsPerBlock: number
  peakRssMiB: number
  hwmMiB: number
}

/** Usage per stage name (primary, mover, applier, kafka broker, postgres (server): the whole PostgreSQL server). */
export type UsageByStage = Record<string, StageUsage>

/** An open-loop phase at a fixed rate: RPO, its split at the journal, and the host write latency. */
export interface RpoPhase {
  rate: number
  blocks: number
  /** From when each write was due to the commit of its group (corrected for coordinated omission). */
  rpo: LatencySummary
  /** From each write's acknowledgement to the commit of its group (not corrected). */
  rpoFromAck: LatencySummary
  /**
   * Where the RPO goes: from when each write was due to its group's journal commit (producer and mover), and from
   * there to the secondary's commit (applier).
   */
  toJournal: LatencySummary
  journalToSecondary: LatencySummary
  /** Host write latency, from when it was due to its acknowledgement. */
  writeLatency: LatencySummary
  usage: UsageByStage
  /** Groups the secondary committed per second, from the phase's first write to the commit of its last. */
  groupsPerSec?: number
  errors: number
}

/** A backlog written with no applier, then caught up by a late one. */
export interface BacklogPhase {
  factor: number
  blocks: number
  /** Writing the backlog (primary and mover running, no applier). */
  write: UsageByStage
  /** The late applier catching up. */
  catchUpSeconds: number
  catchUpBlocksPerSec: number
  catchUp: UsageByStage
}

/** Everything one run measured (bench/results/*.json keeps it whole, per run). */
export interface RunResult {
  session: string
  startedAt: string
  /** 1-minute load average at the start and end (the bench's own processes count in it; see report.ts). */
  loadAverage: { start: number; end: number }
  kafka: {
    /** `cpu`: the JVM and the broker during the run (absent from results saved before it was measured). */
    producerPerformance: ThroughputResult & { avgLatencyMs: number; p99LatencyMs: number; cpu?: CeilingCpu }
    kafkajsSendBatch: ThroughputResult
    /** The primary's producer on each client library (absent from results saved before it was measured). */
    clients?: Partial<Record<KafkaClientName, ThroughputResult & { cpu: CeilingCpu }>>
    /** One-record transactions, one per mover.groupMinIntervalMs as the mover journals markers when busy, ms. */
    transactions?: Partial<Record<KafkaClientName, LatencySummary>>
  }
  /** `copy.cpu`: the bench's process and the backend during the COPYs (absent from results saved before). */
  postgres: { copy: Omit<CopyCeilingResult, 'cpu'> & { cpu?: CeilingCpu } }
  pipeline: {
    blocksPerSec: number
    mibPerSec: number
    medianGroupBlocks: number
    blocks: number
    errors: number
    usage: UsageByStage
    /**
     * The volumes filled through the pipeline before the highest rate was measured (absent: measured on an empty
     * store, as results saved before session 15 were).
     */
    filled?: FillResult
  }
  rpo50: RpoPhase
  rpo80: RpoPhase
  /**
   * Host write latency: through the primary with the whole pipeline running; with the mover and applier frozen; to
   * plain files alone.
   */
  writePath: { rate: number; mirrored: LatencySummary; primaryOnly: LatencySummary; baseline: LatencySummary }
  /**
   * RPO at the 50% rate again, with the mover restarted at another mover.groupMinIntervalMs (the floor between cuts)
   * (absent from results saved before it was measured: they tried mover.groupIntervalMs instead).
   */
  groupFloors?: { groupMinIntervalMs: number; rpo: RpoPhase }[]
  backlog: BacklogPhase[]
  /**
   * The highest sustained rate again with the hot path on each client library (kafka.client), one after another on
   * the same session (absent from results saved before it was measured).
   */
  clients?: ClientPhase[]
  /** Settings of the pipeline under test that shape these numbers. */
  settings: Record<string, number>
}

const MIB = 1024 * 1024

/** What the pipeline phases measure (the rest of a run is the ceilings and the context). */
type PipelinePart = Pick<RunResult, 'pipeline' | 'rpo50' | 'rpo80' | 'writePath' | 'groupFloors' | 'backlog'>

/** Folds per-process usage into per-stage figures (appliers started one after another summed). */
export function usageByStage(usage: Record<string, ProcessUsage>, blocks: number): UsageByStage {
  const out: UsageByStage = {}
  const add = (stage: string, u: ProcessUsage): void => {
    const prev = out[stage]
    const cpu = blocks > 0 ? u.cpuUs / blocks : Number.NaN
    const sys = blocks > 0 ? u.sysUs / blocks : Number.NaN
    out[stage] = {
      cpuUsPerBlock: round((prev?.cpuUsPerBlock ?? 0) + cpu, 1),
      sysUsPerBlock: round((prev?.sysUsPerBlock ?? 0) + sys, 1),
      peakRssMiB: round((prev?.peakRssMiB ?? 0) + u.peakRssKb / 1024, 1),
      hwmMiB: round((prev?.hwmMiB ?? 0) + u.hwmKb / 1024, 1),
    }
  }
  for (const [name, u] of Object.entries(usage)) {
    if (name === 'postgres server') add('postgres (server)', u)
    else if (name.startsWith('applier')) add('applier', u)
    else add(name, u)
  }
  return out
}

/** The same configuration with another floor between cuts (validated again: it is a whole config). */
function withGroupFloor(config: Config, groupMinIntervalMs: number): Config {
  const plain = JSON.parse(JSON.stringify(config)) as Record<string, unknown> & { mover: Record<string, unknown> }
  return loadConfig({ overrides: { ...plain, mover: { ...plain.mover, groupMinIntervalMs } } })
}

/** The latest session time among the acknowledged writes. */
function maxTime(times: Float64Array): number {
  return times.reduce((m, t) => (Number.isNaN(t) ? m : Math.max(m, t)), Number.NEGATIVE_INFINITY)
}

function rpoPhase(phase: PhaseOutcome, rate: number): RpoPhase {
  const { load, commit } = phase
  return {
    rate: round(rate),
    blocks: phase.acked,
    rpo: latencySummary(differences(commit, load.due)),
    rpoFromAck: latencySummary(differences(commit, load.ack)),
    toJournal: latencySummary(differences(phase.journalCommit, load.due)),
    journalToSecondary: latencySummary(differences(commit, phase.journalCommit)),
    writeLatency: latencySummary(differences(load.ack, load.due)),
    usage: usageByStage(phase.usage, phase.acked),
    groupsPerSec: round(phase.groupsPerSec),
    errors: load.errors,
  }
}

/**
 * The pipeline with every stage on one Kafka client library (kafka.client): its highest sustained rate, then RPO at
 * the same offered rate for each library (half the first pipeline's highest rate).
 */
export interface ClientPhase {
  client: KafkaClientName
  blocksPerSec: number
  usage: UsageByStage
  /** Absent in results of runs before it was measured. */
  rpo?: RpoPhase
}

/** What a run needs: its session, the profile, where progress goes. */
export interface RunOptions {
  session: BenchSession
  profile: BenchProfile
  /** Progress lines (stderr). */
  log: (message: string) => void
  /** Extra node flags for the stage processes (profiling). */
  execArgv?: string[]
}

/**
 * Runs every measurement once on `options.session` (see the file comment for the order). Throws when the harness
 * breaks; a missed target is data, not an error.
 */
export async function benchRun(options: RunOptions): Promise<RunResult> {
  const { session, profile, log } = options
  const { config } = session
  const startedAt = new Date().toISOString()
  const loadStart = loadAverage()
  const kafka = await measureKafkaCeiling(session, profile, log)
  const pipelineResult = await runPipeline(options)
  const clients: ClientPhase[] = []
  const rpoRate = pipelineResult.pipeline.blocksPerSec * 0.5
  for (const client of KAFKA_CLIENTS) clients.push(await runClientPipeline(options, client, rpoRate))
  const groupBlocks = Math.max(1, Math.round(pipelineResult.pipeline.medianGroupBlocks))
  const copy = await measureCopyCeiling(session, profile, groupBlocks, log)
  return {
    session: config.session.name,
    startedAt,
    loadAverage: { start: loadStart, end: loadAverage() },
    kafka,
    postgres: { copy },
    ...pipelineResult,
    clients,
    settings: runSettings(config, profile),
  }
}

/** ProducerPerformance, then kafkajs sendBatch, on a 4-partition topic of the session with nothing else running. */
async function measureKafkaCeiling(
  session: BenchSession,
  profile: BenchProfile,
  log: (m: string) => void,
): Promise<RunResult['kafka']> {
  const { config } = session
  log(`Kafka ceiling: ${profile.kafkaRecords} records of 4 KiB, ProducerPerformance then kafkajs sendBatch`)
  await createCeilingTopic(session)
  const paths = stackPaths(config)
  const brokerPid = await readBrokerPid(paths.kafkaPid)
  const pp = await producerPerformance({
    paths,
    ...(brokerPid !== undefined ? { brokerPid } : {}),
    brokers: config.kafka.brokers,
    topic: session.ceilingTopic,
    records: profile.kafkaRecords,
    recordSize: config.session.blockSize,
  })
  const kj = await kafkajsSendBatch({
    kafka: session.kafka,
    topic: session.ceilingTopic,
    partitions: 4,
    records: profile.kafkaRecords,
    recordSize: config.session.blockSize,
    batch: config.producer.maxUpdatesPerRecordSet,
  })
  log(
    `  ProducerPerformance ${Math.round(pp.recordsPerSec)} records/s (CPU per block: JVM ` +
      `${round(pp.cpu.clientUsPerBlock)} µs, broker ${round(pp.cpu.serverUsPerBlock)} µs), kafkajs ` +
      `${Math.round(kj.recordsPerSec)} records/s`,
  )
  const clients: Partial<Record<KafkaClientName, ThroughputResult & { cpu: CeilingCpu }>> = {}
  for (const client of KAFKA_CLIENTS) {
    const c = await clientSend({
      client,
      connection: config.kafka,
      topic: session.ceilingTopic,
      partitions: 4,
      records: profile.kafkaRecords,
      recordSize: config.session.blockSize,
      batch: config.producer.maxUpdatesPerRecordSet,
      ...(brokerPid !== undefined ? { brokerPid } : {}),
    })
    log(
      `  the primary's producer on ${client}: ${Math.round(c.recordsPerSec)} records/s (CPU per block: client ` +
        `${round(c.cpu.clientUsPerBlock)} µs, broker ${round(c.cpu.serverUsPerBlock)} µs)`,
    )
    clients[client] = c
  }
  const transactions: Partial<Record<KafkaClientName, LatencySummary>> = {}
  for (const client of KAFKA_CLIENTS) {
    const t = latencySummary(
      await clientTransactions({
        client,
        connection: config.kafka,
        topic: session.ceilingTopic,
        transactions: 300,
        spacingMs: config.mover.groupMinIntervalMs,
      }),
    )
    log(`  one-record transactions on ${client}: p50 ${round(t.p50, 1)} ms, p99 ${round(t.p99, 1)} ms`)
    transactions[client] = t
  }
  return { producerPerformance: pp, kafkajsSendBatch: kj, clients, transactions }
}

async function createCeilingTopic(session: BenchSession): Promise<void> {
  const admin = session.kafka.admin()
  await admin.connect()
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic: session.ceilingTopic,
          numPartitions: 4,
          configEntries: [
            { name: 'max.message.bytes', value: String(session.config.mover.maxRecordSetBytes + KAFKA_FRAMING_BYTES) },
          ],
        },
      ],
    })
  } finally {
    await admin.disconnect()
  }
}

/** The three stage processes, measured through the pipeline's phases; killed if a phase fails. */
async function runPipeline(options: RunOptions): Promise<PipelinePart> {
  const { session, profile, log } = options
  log('pipeline: starting the primary, mover and applier processes')
  const harness = await startPipeline({
    config: session.config,
    dir: session.dir,
    ...(options.execArgv ? { execArgv: options.execArgv } : {}),
  })
  try {
    await harness.startApplier('applier')
    const pipelineResult = await measurePipeline(harness, profile, session.config, log)
    await harness.close()
    return pipelineResult
  } catch (err) {
    harness.kill()
    throw err
  }
}

/**
 * The pipeline once more on `client` (kafka.client of every stage process), on the same session: it resumes where
 * the last pipeline stopped. Warm-up, the highest sustained rate, then RPO at `rpoRate` (the same for each client).
 */
async function runClientPipeline(options: RunOptions, client: KafkaClientName, rpoRate: number): Promise<ClientPhase> {
  const { session, profile, log } = options
  log(`pipeline with kafka.client ${client}`)
  const plain = JSON.parse(JSON.stringify(session.config)) as Record<string, unknown> & {
    kafka: Record<string, unknown>
  }
  const config = loadConfig({ overrides: { ...plain, kafka: { ...plain.kafka, client } } })
  const harness = await startPipeline({
    config,
    dir: session.dir,
    ...(options.execArgv ? { execArgv: options.execArgv } : {}),
  })
  try {
    await harness.startApplier('applier')
    await warmUp(harness, profile, log)
    const { pipeline } = await measureHighestRate(harness, profile, log)
    const rpo = await rpoAt(harness, profile, rpoRate, 3, `RPO at ${Math.round(rpoRate)} writes/s`, log)
    await harness.close()
    return { client, blocksPerSec: pipeline.blocksPerSec, usage: pipeline.usage, rpo }
  } catch (err) {
    harness.kill()
    throw err
  }
}

/** An open-loop phase at `rate` writes/s for the profile's RPO time: RPO and its parts. */
async function rpoAt(
  harness: PipelineHarness,
  profile: BenchProfile,
  offered: number,
  seed: number,
  what: string,
  log: (m: string) => void,
): Promise<RpoPhase> {
  const rate = Math.max(1, offered)
  log(`  ${what}: ${Math.round(rate)} writes/s for ${profile.rpoMs} ms (open loop)`)
  const p = await harness.runPhase(
    { mode: 'open', rate, durationMs: profile.rpoMs, maxInFlight: 10_000 },
    { seed, drainTimeoutMs: profile.drainTimeoutMs },
  )
  const r = rpoPhase(p, rate)
  log(
    `    RPO p50 ${r.rpo.p50} ms, p99 ${r.rpo.p99} ms, p99.9 ${r.rpo.p999} ms (to the journal p50 ` +
      `${r.toJournal.p50}, p99 ${r.toJournal.p99}; journal to secondary p50 ` +
      `${r.journalToSecondary.p50}, p99 ${r.journalToSecondary.p99}); write p99 ${r.writeLatency.p99} ` +
      `ms`,
  )
  return r
}

/** COPY into the store's tables, in transactions of `groupBlocks` (the pipeline's median group at its top rate). */
async function measureCopyCeiling(
  session: BenchSession,
  profile: BenchProfile,
  groupBlocks: number,
  log: (m: string) => void,
): Promise<CopyCeilingResult> {
  log(`PostgreSQL ceiling: COPY ${profile.copyBlocks} blocks, ${groupBlocks} per transaction`)
  const copy = await postgresCopyCeiling({
    config: session.config,
    schema: session.ceilingSchema,
    blocks: profile.copyBlocks,
    groupBlocks,
  })
  log(
    `  COPY ${Math.round(copy.recordsPerSec)} blocks/s (CPU per block: bench client ` +
      `${round(copy.cpu.clientUsPerBlock)} µs, backend ${round(copy.cpu.serverUsPerBlock)} µs)`,
  )
  return copy
}

/** Settings of the pipeline under test that shape the numbers. */
function runSettings(config: Config, profile: BenchProfile): Record<string, number> {
  return {
    'producer.lingerMs': config.producer.lingerMs,
    'producer.maxUpdatesPerRecordSet': config.producer.maxUpdatesPerRecordSet,
    'producer.heartbeatMs': config.producer.heartbeatMs,
    'mover.groupIntervalMs': config.mover.groupIntervalMs,
    'mover.groupMinIntervalMs': config.mover.groupMinIntervalMs,
    'mover.groupMaxBytes': config.mover.groupMaxBytes,
    'bench.concurrency': profile.concurrency,
    'bench.window': profile.window,
  }
}

function measurePipeline(
  harness: PipelineHarness,
  profile: BenchProfile,
  config: Config,
  log: (m: string) => void,
): Promise<PipelinePart> {
  return new PipelinePhases(harness, profile, config, log).measure()
}

/** Writes per second committed on the secondary within [fromMs, toMs] (epoch ms; NaN, a failed write, never is). */
export function sustainedRate(commit: Float64Array, fromMs: number, toMs: number): number {
  let inWindow = 0
  for (const c of commit) if (c >= fromMs && c <= toMs) inWindow++
  return inWindow / ((toMs - fromMs) / 1000)
}

/** What the warm-up and the highest rate take from a profile (the failover bench runs them too). */
export type RateProfile = Pick<
  BenchProfile,
  'warmupMs' | 'warmupRate' | 'maxMs' | 'maxSettleMs' | 'concurrency' | 'window' | 'drainTimeoutMs'
>

/** Low-rate writes first, so connections, JIT and caches are warm. */
export async function warmUp(harness: PipelineHarness, profile: RateProfile, log: (m: string) => void): Promise<void> {
  log(`  warm-up: ${profile.warmupRate} writes/s for ${profile.warmupMs} ms`)
  await harness.runPhase(
    { mode: 'open', rate: profile.warmupRate, durationMs: profile.warmupMs, maxInFlight: 10_000 },
    { seed: 1, drainTimeoutMs: profile.drainTimeoutMs },
  )
}

/** The windowed closed loop: the rate committed after the settling period, and the groups at that rate. */
export async function measureHighestRate(
  harness: PipelineHarness,
  profile: RateProfile,
  log: (m: string) => void,
): Promise<{ pipeline: RunResult['pipeline']; blocksPerSec: number }> {
  log(
    `  highest sustained rate: ${profile.concurrency} writers, at most ${profile.window} writes not ` +
      `yet on the secondary, ${profile.maxMs} ms`,
  )
  const max = await harness.runPhase(
    { mode: 'closed', concurrency: profile.concurrency, durationMs: profile.maxMs, window: profile.window },
    { seed: 2, drainTimeoutMs: profile.drainTimeoutMs },
  )
  const from = max.load.startedMs + profile.maxSettleMs
  const to = max.load.endedMs
  const blocksPerSec = sustainedRate(max.commit, from, to)
  const pipeline = {
    blocksPerSec: round(blocksPerSec),
    mibPerSec: round((blocksPerSec * 4096) / MIB, 1),
    medianGroupBlocks: median(harness.groups.sizesBetween(from, to)),
    blocks: max.acked,
    errors: max.load.errors,
    usage: usageByStage(max.usage, max.acked),
  }
  log(
    `    ${pipeline.blocksPerSec} blocks/s (${pipeline.mibPerSec} MiB/s), median group ` +
      `${pipeline.medianGroupBlocks} blocks`,
  )
  return { pipeline, blocksPerSec }
}

/** Host write delays of the write path's slices, per variant. */
interface WritePathDelays {
  mirrored: Float64Array[]
  primaryOnly: Float64Array[]
  baseline: Float64Array[]
}

/** The pipeline's phases, in order, on the running harness. */
class PipelinePhases {
  readonly #harness: PipelineHarness
  readonly #profile: BenchProfile
  readonly #config: Config
  readonly #log: (m: string) => void
  readonly #drain: { drainTimeoutMs: number }

  constructor(harness: PipelineHarness, profile: BenchProfile, config: Config, log: (m: string) => void) {
    this.#harness = harness
    this.#profile = profile
    this.#config = config
    this.#log = log
    this.#drain = { drainTimeoutMs: profile.drainTimeoutMs }
  }

  async measure(): Promise<PipelinePart> {
    await this.#warmUp()
    const filled = await this.#fill()
    const highest = await this.#highestRate()
    const pipeline = filled ? { ...highest.pipeline, filled } : highest.pipeline
    const { blocksPerSec } = highest
    const rpo50 = await this.#rpo(blocksPerSec, 0.5, 3)
    const rpo80 = await this.#rpo(blocksPerSec, 0.8, 4)
    const writePath = await this.#writePath(rpo50.rate)
    const groupFloors = await this.#groupFloors(blocksPerSec)
    const backlog = await this.#backlogs()
    return { pipeline, rpo50, rpo80, writePath, groupFloors, backlog }
  }

  #warmUp(): Promise<void> {
    return warmUp(this.#harness, this.#profile, this.#log)
  }

  /** Every block of every volume once, when the profile asks for it: the secondary then holds them all. */
  async #fill(): Promise<FillResult | undefined> {
    const fill = this.#profile.fill
    if (!fill) return undefined
    const volumes = this.#config.session.controllers.flatMap((c) => c.volumes)
    return fillVolumes(this.#harness, volumes, { ...fill, drainTimeoutMs: this.#profile.drainTimeoutMs }, this.#log)
  }

  #highestRate(): Promise<{ pipeline: RunResult['pipeline']; blocksPerSec: number }> {
    return measureHighestRate(this.#harness, this.#profile, this.#log)
  }

  /** An open-loop phase at `fraction` of the highest rate. */
  #rpo(blocksPerSec: number, fraction: number, seed: number, what = `RPO at ${fraction * 100}%`): Promise<RpoPhase> {
    return rpoAt(this.#harness, this.#profile, blocksPerSec * fraction, seed, what, this.#log)
  }

  /** Alternating slices at `rate`: mirrored; mirrored with the secondary frozen; plain files alone. */
  async #writePath(rate: number): Promise<RunResult['writePath']> {
    const profile = this.#profile
    this.#log(
      `  write path: ${profile.writePathRounds} rounds of ${profile.writePathSliceMs} ms slices at ` +
        `${Math.round(rate)} writes/s: mirrored; mirrored with the mover and applier frozen; ` +
        `plain files alone`,
    )
    const delays: WritePathDelays = { mirrored: [], primaryOnly: [], baseline: [] }
    for (let slice = 0; slice < profile.writePathRounds; slice++) await this.#writePathRound(rate, slice, delays)
    const writePath = {
      rate,
      mirrored: latencySummary(concat(delays.mirrored)),
      primaryOnly: latencySummary(concat(delays.primaryOnly)),
      baseline: latencySummary(concat(delays.baseline)),
    }
    this.#log(
      `    write p99 ${writePath.mirrored.p99} ms mirrored, ${writePath.primaryOnly.p99} ms with the ` +
        `secondary frozen, ${writePath.baseline.p99} ms without mirroring`,
    )
    return writePath
  }

  /** One slice of each variant, the same writes (seed) in each. */
  async #writePathRound(rate: number, index: number, delays: WritePathDelays): Promise<void> {
    const harness = this.#harness
    const spec = { mode: 'open', rate, durationMs: this.#profile.writePathSliceMs, maxInFlight: 10_000 } as const
    const seed = 20 + index
    // every slice starts with the pipeline drained, so none pays for the one before
    const mirrored = await harness.runPhase(spec, { seed, ...this.#drain })
    delays.mirrored.push(differences(mirrored.load.ack, mirrored.load.due))
    // the secondary's stages share this machine; frozen, what is left is the primary's own cost (and the broker's)
    harness.freezeSecondary(true)
    let primaryOnly: PhaseOutcome['load']
    try {
      primaryOnly = await harness.primary.request<PhaseOutcome['load']>({ op: 'load', spec, seed })
    } finally {
      harness.freezeSecondary(false)
    }
    delays.primaryOnly.push(differences(primaryOnly.ack, primaryOnly.due))
    await harness.waitCommitted(maxTime(primaryOnly.time), this.#profile.drainTimeoutMs)
    const baseline = await harness.primary.request<PhaseOutcome['load']>({ op: 'baseline', spec, seed })
    delays.baseline.push(differences(baseline.ack, baseline.due))
  }

  /** The 50% phase again with the mover restarted at each other floor between cuts; then the default mover is back. */
  async #groupFloors(blocksPerSec: number): Promise<NonNullable<RunResult['groupFloors']>> {
    const config = this.#config
    const floors: NonNullable<RunResult['groupFloors']> = []
    const tried = this.#profile.groupFloorsMs.filter(
      (x) => x !== config.mover.groupMinIntervalMs && x <= config.mover.groupIntervalMs,
    )
    for (const ms of tried) {
      await this.#harness.restartMover(withGroupFloor(config, ms))
      floors.push({
        groupMinIntervalMs: ms,
        rpo: await this.#rpo(blocksPerSec, 0.5, 30 + ms, `RPO at 50% with mover.groupMinIntervalMs ${ms}`),
      })
    }
    if (floors.length > 0) await this.#harness.restartMover(config)
    return floors
  }

  /** With the applier stopped: 1x and 10x the backlog, each caught up by a late applier. */
  async #backlogs(): Promise<BacklogPhase[]> {
    const backlog: BacklogPhase[] = []
    await this.#harness.stopApplier()
    for (const factor of [1, 10]) backlog.push(await this.#backlog(factor))
    return backlog
  }

  async #backlog(factor: number): Promise<BacklogPhase> {
    const harness = this.#harness
    const profile = this.#profile
    const blocks = profile.backlogBlocks * factor
    this.#log(
      `  backlog ${factor}x: ${blocks} blocks written and journaled with no applier, then a late applier catches up`,
    )
    const meter = await harness.monitor.begin()
    const load = await harness.primary.request<PhaseOutcome['load']>({
      op: 'load',
      spec: { mode: 'closed', concurrency: profile.concurrency, count: blocks },
      seed: 10 + factor,
    })
    const last = maxTime(load.time)
    await harness.waitJournaled(last, profile.drainTimeoutMs)
    const write = usageByStage(await meter.end(), blocks)
    const started = nowMs()
    // begun first: the late applier's CPU counts from when it is tracked (ready), the others' over the same span
    const catchUpMeter = await harness.monitor.begin()
    await harness.startApplier(`applier-backlog-${factor}x`)
    await harness.waitCommitted(last, profile.drainTimeoutMs)
    const catchUpSeconds = (nowMs() - started) / 1000
    const catchUp = usageByStage(await catchUpMeter.end(), blocks)
    await harness.stopApplier()
    this.#log(`    caught up in ${round(catchUpSeconds, 1)} s; applier peak RSS ${catchUp.applier?.hwmMiB} MiB`)
    return {
      factor,
      blocks,
      write,
      catchUpSeconds: round(catchUpSeconds, 2),
      catchUpBlocksPerSec: round(blocks / catchUpSeconds),
      catchUp,
    }
  }
}
