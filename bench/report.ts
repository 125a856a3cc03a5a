/**
 * From runs to the report: medians over the runs of every figure, the
 * ratios and the targets, the JSON document, and BENCHMARKS.md. The
 * Markdown is generated whole, except a hand-written findings section
 * between FINDINGS_BEGIN and FINDINGS_END, which is carried over from the
 * previous file as it is. Pure code.
 */
import type { BacklogPhase, ClientPhase, RpoPhase, RunResult, StageUsage } from './benchRun.js'
import { KAFKA_CLIENTS, type KafkaClientName } from '../lib/kafka/client/index.js'
import type { CeilingCpu } from './kafkaCeiling.js'
import type { HeadMachine, MachineInfo } from './machine.js'
import type { BenchProfile } from './profiles.js'
import { median, ratio, round } from './stats.js'

/** Markers of the hand-written findings section, which regeneration carries over unchanged. */
export const FINDINGS_BEGIN = '<!-- findings:begin (hand-written; `npm run bench` keeps this section as it is) -->'
export const FINDINGS_END = '<!-- findings:end -->'

/** One figure of the report: its median and its value in each run. */
export interface Metric {
  section: string
  label: string
  unit: string
  median: number
  runs: number[]
}

/** A performance goal the bench reports on, judged on the medians. */
export interface Target {
  name: string
  goal: string
  /** The median measured, as text with its unit. */
  measured: string
  /** undefined when it could not be measured. */
  met: boolean | undefined
}

/** The server settings a report recorded, as `name value` pairs (empty when it recorded none). */
export function settingsText(settings: Record<string, string> | undefined): string {
  return Object.entries(settings ?? {})
    .map(([name, value]) => `${name} ${value}`)
    .join(', ')
}

/** What every bench section's report opens with: when, which profile, the command, the machine and its load. */
export interface BenchReportHead {
  generatedAt: string
  profile: 'quick' | 'full'
  command: string
  durationSeconds: number
  machine: HeadMachine
  /** 1-minute load average at the start and the end: above the core count, other work competed. */
  load: { start: number; end: number }
}

/** A target's Met cell: yes, **no**, or figure (a figure asked for, with no bound, or not measured). */
export const metCell = (met: boolean | undefined): string => (met === undefined ? 'figure' : met ? 'yes' : '**no**')

/**
 * The opening of a bench section's Markdown report: its title, the command, machine and load (flagged noisy when
 * the load passed the core count), and the targets' table.
 */
export function reportHead(
  title: string,
  r: {
    command: string
    machine: HeadMachine
    load: { start: number; end: number }
    targets: readonly Target[]
  },
): string[] {
  const noisy = r.load.start > r.machine.cores || r.load.end > r.machine.cores
  const settings = settingsText(r.machine.postgresSettings)
  return [
    title,
    '',
    `\`${r.command}\` on ${r.machine.cores} cores, Node ${r.machine.node}, PostgreSQL ${r.machine.postgres}` +
      `${settings ? ` (${settings})` : ''}, ` +
      `Kafka ${r.machine.kafka}; load average ${r.load.start} → ${r.load.end}` +
      (noisy ? ' (above the core count: other work ran, the figures are noisy).' : '.'),
    '',
    '| Target | Goal | Measured | Met |',
    '| --- | --- | --- | --- |',
    ...r.targets.map((t) => `| ${t.name} | ${t.goal} | ${t.measured} | ${metCell(t.met)} |`),
  ]
}

/** The JSON document (bench/results/*.json); BENCHMARKS.md is rendered from it. */
export interface Report {
  generatedAt: string
  profile: BenchProfile['name']
  runs: number
  durationSeconds: number
  machine: MachineInfo
  metrics: Metric[]
  targets: Target[]
  settings: Record<string, number>
  results: RunResult[]
}

type Getter = (r: RunResult, machine: MachineInfo) => number | undefined

const WRITE_PATH = 'Write path (at 50% of the highest rate, alternating slices)'
const CPU = 'CPU per mirrored block (at the highest rate)'
const COMBINED = 'Combined ceiling (every block through Kafka once and PostgreSQL once)'
const MIB = 1024 * 1024

/** The pipeline's stages as the usage names them, with the names the report gives them. */
export const STAGES: readonly { key: string; name: string }[] = [
  { key: 'primary', name: 'primary (with the load generator)' },
  { key: 'mover', name: 'mover' },
  { key: 'kafka broker', name: 'broker' },
  { key: 'postgres (server)', name: 'PostgreSQL' },
  { key: 'applier', name: 'applier' },
]

interface Figure {
  section: string
  label: string
  unit: string
  get: Getter
}

/** A row of a section's table: what it measures, in what unit, and where its value is in a run. */
type Row = Omit<Figure, 'section'>

/** The rows under their section's heading. */
function inSection(section: string, rows: readonly Row[]): Figure[] {
  return rows.map((row) => ({ section, ...row }))
}

/** The report's figures, in the order of the table; `floors` are the other floors between cuts the runs tried. */
function figures(floors: readonly number[]): Figure[] {
  return [
    ...kafkaCeilingFigures(),
    ...postgresCeilingFigures(),
    ...combinedCeilingFigures(),
    ...pipelineFigures(),
    ...rpoFigures('50%', (r) => r.rpo50),
    ...rpoFigures('80%', (r) => r.rpo80),
    ...groupFloorFigures(floors),
    ...cpuFigures(),
    ...peakRssFigures(),
    ...backlogFigures(),
    ...writePathFigures(),
    ...clientFigures(),
  ]
}

/** A run's pipeline phase with the hot path on `client`, if it ran. */
function clientPhase(r: RunResult, client: KafkaClientName): ClientPhase | undefined {
  return r.clients?.find((c) => c.client === client)
}

/** The RPO phase of a run's pipeline on `client` (the same offered rate for each), if it ran. */
function clientRpo(r: RunResult, client: KafkaClientName): RpoPhase | undefined {
  return clientPhase(r, client)?.rpo
}

/** Of two clients' figures, the second over the first (NaN where either is missing). */
function clientRatio(
  r: RunResult,
  get: (p: ClientPhase) => number | undefined,
  over: KafkaClientName = 'kafkajs',
  of: KafkaClientName = 'platformatic',
): number {
  const a = clientPhase(r, over)
  const b = clientPhase(r, of)
  return a === undefined || b === undefined ? Number.NaN : ratio(get(b) ?? Number.NaN, get(a) ?? Number.NaN)
}

/** Each client library: the primary's producer alone, then the pipeline with the hot path on it. */
function clientFigures(): Figure[] {
  const send = (r: RunResult, c: KafkaClientName): RunResult['kafka']['producerPerformance'] | undefined =>
    r.kafka.clients?.[c] as RunResult['kafka']['producerPerformance'] | undefined
  const primary = (p: ClientPhase): number | undefined => p.usage['primary']?.cpuUsPerBlock
  return inSection('Kafka client libraries (kafka.client: the hot path)', [
    ...KAFKA_CLIENTS.flatMap((c): Row[] => [
      {
        label: `${c}: the primary's producer alone (same bytes)`,
        unit: 'blocks/s',
        get: (r) => send(r, c)?.recordsPerSec,
      },
      { label: `${c}: its CPU per block, client`, unit: 'µs', get: (r) => send(r, c)?.cpu?.clientUsPerBlock },
      { label: `${c}: its CPU per block, broker`, unit: 'µs', get: (r) => send(r, c)?.cpu?.serverUsPerBlock },
      {
        label: `${c}: one-record transaction (as a marker, one per mover.groupMinIntervalMs), p50`,
        unit: 'ms',
        get: (r) => r.kafka.transactions?.[c]?.p50,
      },
      { label: `${c}: one-record transaction, p99`, unit: 'ms', get: (r) => r.kafka.transactions?.[c]?.p99 },
      {
        label: `${c}: pipeline, highest sustained rate`,
        unit: 'blocks/s',
        get: (r) => clientPhase(r, c)?.blocksPerSec,
      },
      ...['primary', 'mover', 'kafka broker', 'applier'].map((stage): Row => ({
        label: `${c}: pipeline, ${stage} CPU per mirrored block`,
        unit: 'µs',
        get: (r) => clientPhase(r, c)?.usage[stage]?.cpuUsPerBlock,
      })),
      {
        label: `${c}: pipeline, CPU per mirrored block, all processes`,
        unit: 'µs',
        get: (r) => (clientPhase(r, c) ? sumCpu((clientPhase(r, c) as ClientPhase).usage) : undefined),
      },
      { label: `${c}: RPO at half the pipeline's highest rate, p50`, unit: 'ms', get: (r) => clientRpo(r, c)?.rpo.p50 },
      { label: `${c}: RPO, p99`, unit: 'ms', get: (r) => clientRpo(r, c)?.rpo.p99 },
      { label: `${c}: RPO, p99.9`, unit: 'ms', get: (r) => clientRpo(r, c)?.rpo.p999 },
      { label: `${c}: RPO, journal to secondary p99`, unit: 'ms', get: (r) => clientRpo(r, c)?.journalToSecondary.p99 },
    ]),
    { label: 'platformatic / kafkajs: primary CPU per mirrored block', unit: '×', get: (r) => clientRatio(r, primary) },
    {
      label: 'platformatic / kafkajs: highest sustained rate',
      unit: '×',
      get: (r) => clientRatio(r, (p) => p.blocksPerSec),
    },
  ])
}

function kafkaCeilingFigures(): Figure[] {
  const pp = (r: RunResult): RunResult['kafka']['producerPerformance'] => r.kafka.producerPerformance
  return inSection('Kafka ceiling', [
    {
      label: 'ProducerPerformance (4 partitions, acks=all, idempotent)',
      unit: 'blocks/s',
      get: (r) => pp(r).recordsPerSec,
    },
    { label: 'ProducerPerformance', unit: 'MiB/s', get: (r) => pp(r).mbPerSec },
    {
      label: 'kafkajs sendBatch (same bytes)',
      unit: 'blocks/s',
      get: (r) => r.kafka.kafkajsSendBatch.recordsPerSec,
    },
    { label: 'kafkajs sendBatch', unit: 'MiB/s', get: (r) => r.kafka.kafkajsSendBatch.mbPerSec },
    {
      label: 'ProducerPerformance CPU per block: Java client (the JVM, start-up included)',
      unit: 'µs',
      get: (r) => pp(r).cpu?.clientUsPerBlock,
    },
    { label: 'ProducerPerformance CPU per block: broker', unit: 'µs', get: (r) => pp(r).cpu?.serverUsPerBlock },
    { label: 'ProducerPerformance CPU per block: client + broker', unit: 'µs', get: (r) => ceilingCpu(pp(r).cpu) },
  ])
}

function postgresCeilingFigures(): Figure[] {
  return inSection('PostgreSQL ceiling', [
    { label: 'binary COPY into the block store', unit: 'blocks/s', get: (r) => r.postgres.copy.recordsPerSec },
    { label: 'binary COPY', unit: 'MiB/s', get: (r) => r.postgres.copy.mbPerSec },
    {
      label: 'blocks per transaction (median pipeline group)',
      unit: 'blocks',
      get: (r) => r.postgres.copy.blocksPerTransaction,
    },
    { label: 'one transaction', unit: 'ms', get: (r) => r.postgres.copy.medianTransactionMs },
    {
      label: "COPY CPU per block: Node client (the bench's process)",
      unit: 'µs',
      get: (r) => r.postgres.copy.cpu?.clientUsPerBlock,
    },
    { label: 'COPY CPU per block: PostgreSQL backend', unit: 'µs', get: (r) => r.postgres.copy.cpu?.serverUsPerBlock },
    { label: 'COPY CPU per block: client + backend', unit: 'µs', get: (r) => ceilingCpu(r.postgres.copy.cpu) },
  ])
}

function combinedCeilingFigures(): Figure[] {
  return inSection(COMBINED, [
    {
      label: 'combined ceiling: 1 / (1/ProducerPerformance + 1/COPY)',
      unit: 'blocks/s',
      get: (r) => combinedCeiling(r),
    },
    { label: 'combined ceiling', unit: 'MiB/s', get: (r) => (combinedCeiling(r) * 4096) / MIB },
    {
      label: 'CPU per block of both ceilings (client + broker, client + backend)',
      unit: 'µs',
      get: (r) => ceilingCpu(r.kafka.producerPerformance.cpu) + ceilingCpu(r.postgres.copy.cpu),
    },
  ])
}

function pipelineFigures(): Figure[] {
  return inSection('Pipeline', [
    { label: 'highest sustained mirrored rate', unit: 'blocks/s', get: (r) => r.pipeline.blocksPerSec },
    { label: 'highest sustained mirrored rate', unit: 'MiB/s', get: (r) => r.pipeline.mibPerSec },
    { label: 'ratio to the combined ceiling', unit: '×', get: (r) => combinedRatio(r) },
    {
      label: 'ratio to the slower of Kafka (ProducerPerformance) and PostgreSQL (COPY)',
      unit: '×',
      get: (r) => throughputRatio(r),
    },
    {
      label: 'ratio to kafkajs sendBatch',
      unit: '×',
      get: (r) => ratio(r.pipeline.blocksPerSec, r.kafka.kafkajsSendBatch.recordsPerSec),
    },
    { label: 'median group at that rate', unit: 'blocks', get: (r) => r.pipeline.medianGroupBlocks },
    // what the measured CPU cost allows: every stage, the broker and PostgreSQL share the machine's cores
    {
      label: 'bound set by CPU: cores × 10^6 µs / CPU per block of all processes',
      unit: 'blocks/s',
      get: (r, m) => ratio(m.cores * 1e6, sumCpu(r.pipeline.usage)),
    },
    {
      label: 'filling every volume through the pipeline first (every block once, to the secondary)',
      unit: 'MiB/s',
      get: (r) => r.pipeline.filled?.mibPerSec,
    },
  ])
}

function rpoFigures(at: string, phase: (r: RunResult) => RpoPhase): Figure[] {
  return inSection(`RPO at ${at} of the highest rate (open loop, from when each write was due)`, [
    { label: 'offered rate', unit: 'blocks/s', get: (r) => phase(r).rate },
    { label: 'p50', unit: 'ms', get: (r) => phase(r).rpo.p50 },
    { label: 'p99', unit: 'ms', get: (r) => phase(r).rpo.p99 },
    { label: 'p99.9', unit: 'ms', get: (r) => phase(r).rpo.p999 },
    { label: 'p99 from the acknowledgement (not corrected)', unit: 'ms', get: (r) => phase(r).rpoFromAck.p99 },
    { label: 'groups committed', unit: 'per s', get: (r) => phase(r).groupsPerSec },
    { label: 'CPU per block, all processes', unit: 'µs', get: (r) => sumCpu(phase(r).usage) },
    {
      label: 'of which: due → journal commit (producer + mover), p50',
      unit: 'ms',
      get: (r) => phase(r).toJournal.p50,
    },
    { label: 'of which: due → journal commit, p99', unit: 'ms', get: (r) => phase(r).toJournal.p99 },
    {
      label: 'of which: journal commit → secondary commit (applier), p50',
      unit: 'ms',
      get: (r) => phase(r).journalToSecondary.p50,
    },
    {
      label: 'of which: journal commit → secondary commit, p99',
      unit: 'ms',
      get: (r) => phase(r).journalToSecondary.p99,
    },
  ])
}

/** The 50% RPO phase at each other floor between cuts (the default's figures are in the 50% section). */
function groupFloorFigures(floors: readonly number[]): Figure[] {
  const rows = (ms: number): Row[] => {
    const at = (r: RunResult): RpoPhase | undefined => r.groupFloors?.find((g) => g.groupMinIntervalMs === ms)?.rpo
    const name = `mover.groupMinIntervalMs ${ms}`
    return [
      { label: `${name}: p50`, unit: 'ms', get: (r) => at(r)?.rpo.p50 },
      { label: `${name}: p99`, unit: 'ms', get: (r) => at(r)?.rpo.p99 },
      { label: `${name}: p99.9`, unit: 'ms', get: (r) => at(r)?.rpo.p999 },
      { label: `${name}: groups committed`, unit: 'per s', get: (r) => at(r)?.groupsPerSec },
      {
        label: `${name}: CPU per block, all processes`,
        unit: 'µs',
        get: (r) => (at(r) ? sumCpu(at(r)?.usage ?? {}) : undefined),
      },
    ]
  }
  return inSection('RPO at 50% of the highest rate with another floor between cuts (the mover restarted with it)', [
    ...floors.flatMap(rows),
  ])
}

/** Each stage's CPU per block at the highest rate, and the kernel's part of it. */
function cpuFigures(): Figure[] {
  const usage = (r: RunResult, stage: string): StageUsage | undefined => r.pipeline.usage[stage]
  return inSection(CPU, [
    ...STAGES.map((s) => s.key).flatMap((stage): Row[] => [
      { label: stage, unit: 'µs', get: (r) => usage(r, stage)?.cpuUsPerBlock },
      { label: `${stage}: of which in the kernel`, unit: 'µs', get: (r) => usage(r, stage)?.sysUsPerBlock },
    ]),
    { label: 'all of the above', unit: 'µs', get: (r) => sumCpu(r.pipeline.usage) },
  ])
}

function peakRssFigures(): Figure[] {
  return inSection(
    'Peak RSS (at the highest rate)',
    ['primary', 'mover', 'applier'].map((stage) => ({
      label: stage,
      unit: 'MiB',
      get: (r) => r.pipeline.usage[stage]?.peakRssMiB,
    })),
  )
}

/** The late applier catching up with 1x and 10x the backlog, then its memory with 10x over 1x. */
function backlogFigures(): Figure[] {
  const factorRows = (factor: number): Figure[] => {
    const b = (r: RunResult): BacklogPhase | undefined => r.backlog.find((x) => x.factor === factor)
    return inSection(`Backlog ${factor}x (applier started late)`, [
      { label: 'backlog', unit: 'blocks', get: (r) => b(r)?.blocks },
      { label: 'catch-up rate', unit: 'blocks/s', get: (r) => b(r)?.catchUpBlocksPerSec },
      { label: 'applier CPU per block', unit: 'µs', get: (r) => b(r)?.catchUp.applier?.cpuUsPerBlock },
      { label: 'applier peak RSS (VmHWM)', unit: 'MiB', get: (r) => b(r)?.catchUp.applier?.hwmMiB },
      {
        label: 'mover peak RSS while the backlog was written',
        unit: 'MiB',
        get: (r) => b(r)?.write.mover?.peakRssMiB,
      },
      {
        label: 'primary peak RSS while the backlog was written',
        unit: 'MiB',
        get: (r) => b(r)?.write.primary?.peakRssMiB,
      },
    ])
  }
  return [
    ...[1, 10].flatMap(factorRows),
    ...inSection('Backlog', [{ label: 'applier peak RSS, 10x backlog / 1x', unit: '×', get: (r) => memoryRatio(r) }]),
  ]
}

function writePathFigures(): Figure[] {
  const w = (r: RunResult): RunResult['writePath'] => r.writePath
  return inSection(WRITE_PATH, [
    { label: 'host write p50, mirrored', unit: 'ms', get: (r) => w(r).mirrored.p50 },
    { label: 'host write p99, mirrored', unit: 'ms', get: (r) => w(r).mirrored.p99 },
    { label: 'host write p99.9, mirrored', unit: 'ms', get: (r) => w(r).mirrored.p999 },
    {
      label: 'host write p99, mirrored, mover and applier frozen (primary and broker only)',
      unit: 'ms',
      get: (r) => w(r).primaryOnly.p99,
    },
    {
      label: 'host write p50, primary files alone (pwrite + fdatasync)',
      unit: 'ms',
      get: (r) => w(r).baseline.p50,
    },
    { label: 'host write p99, primary files alone', unit: 'ms', get: (r) => w(r).baseline.p99 },
    { label: 'host write p99.9, primary files alone', unit: 'ms', get: (r) => w(r).baseline.p999 },
    { label: 'p99 mirrored / alone', unit: '×', get: (r) => writePathRatio(r) },
    {
      label: 'p99 mirrored with the secondary frozen / alone',
      unit: '×',
      get: (r) => ratio(w(r).primaryOnly.p99, w(r).baseline.p99),
    },
  ])
}

/**
 * CPU per block of every process measured, summed: on a machine of C cores the pipeline cannot pass C × 10^6 / this.
 */
export function sumCpu(usage: RunResult['pipeline']['usage']): number {
  return Object.values(usage).reduce((n, u) => n + u.cpuUsPerBlock, 0)
}

/**
 * The machine's combined ceiling, blocks/s: every mirrored block is produced to Kafka once and COPYed into
 * PostgreSQL once on the same machine, so the two ceilings add like times: 1 / (1/ProducerPerformance + 1/COPY),
 * both measured in the same run.
 */
export function combinedCeiling(r: RunResult): number {
  const kafka = r.kafka.producerPerformance.recordsPerSec
  const copy = r.postgres.copy.recordsPerSec
  return kafka > 0 && copy > 0 ? 1 / (1 / kafka + 1 / copy) : Number.NaN
}

/** Pipeline rate over the combined ceiling of the same run. */
export function combinedRatio(r: RunResult): number {
  return ratio(r.pipeline.blocksPerSec, combinedCeiling(r))
}

/**
 * A ceiling's CPU per block, client and server together; NaN when either was not measured (results saved before it
 * was, or a process that could not be read: NaN, saved as null in the JSON).
 */
export function ceilingCpu(cpu: CeilingCpu | undefined): number {
  const client = cpu?.clientUsPerBlock
  const server = cpu?.serverUsPerBlock
  return typeof client === 'number' && typeof server === 'number' ? client + server : Number.NaN
}

/** Pipeline rate over the slower of Kafka's (ProducerPerformance) and PostgreSQL's (COPY) ceilings. */
export function throughputRatio(r: RunResult): number {
  return ratio(
    r.pipeline.blocksPerSec,
    Math.min(r.kafka.producerPerformance.recordsPerSec, r.postgres.copy.recordsPerSec),
  )
}

/** Host write p99 through the primary with the whole pipeline running over that of the same writes to plain files. */
export function writePathRatio(r: RunResult): number {
  return ratio(r.writePath.mirrored.p99, r.writePath.baseline.p99)
}

/** The late applier's peak RSS with 10x the backlog over that with 1x. */
export function memoryRatio(r: RunResult): number {
  const one = r.backlog.find((b) => b.factor === 1)?.catchUp.applier?.hwmMiB
  const ten = r.backlog.find((b) => b.factor === 10)?.catchUp.applier?.hwmMiB
  return ratio(ten ?? Number.NaN, one ?? Number.NaN)
}

function digitsFor(unit: string, v: number): number {
  if (unit === '×') return 2
  if (unit === 'ms' || unit === 'MiB' || unit === 'MiB/s' || unit === 'µs') return Math.abs(v) >= 100 ? 0 : 1
  return 0
}

/** A number for a table cell: rounded by unit, "n/a" when not measured. */
export function formatValue(v: number, unit: string): string {
  return Number.isFinite(v) ? String(round(v, digitsFor(unit, v))) : 'n/a'
}

/** A target judged on its median `value`; `detail` (what the value is made of) follows it in parentheses. */
export function judge(
  name: string,
  goal: string,
  value: number,
  unit: string,
  met: (v: number) => boolean,
  detail?: string,
): Target {
  return {
    name,
    goal,
    measured: `${formatValue(value, unit)}${unit === '×' ? '×' : ` ${unit}`}${detail ? ` (${detail})` : ''}`,
    met: Number.isFinite(value) ? met(value) : undefined,
  }
}

/** The performance targets of the pipeline, judged on the medians over the runs. */
function judgeTargets(results: RunResult[]): Target[] {
  const med = (get: (r: RunResult) => number | undefined): number => median(results.map((r) => get(r) ?? Number.NaN))
  const f = formatValue
  // a stage the runs did not measure is left out (PostgreSQL in reports made before it was counted whole)
  const shares = STAGES.map((s) => ({ name: s.name, us: med((r) => r.pipeline.usage[s.key]?.cpuUsPerBlock) }))
    .filter((s) => Number.isFinite(s.us))
    .map((s) => `${s.name} ${f(s.us, 'µs')}`)
    .join(', ')
  const hwm = (r: RunResult, factor: number): number | undefined =>
    r.backlog.find((b) => b.factor === factor)?.catchUp.applier?.hwmMiB
  const primaryCpu = (p: ClientPhase): number | undefined => p.usage['primary']?.cpuUsPerBlock
  const clientRate = (c: KafkaClientName): number => med((r) => clientPhase(r, c)?.blocksPerSec)
  return [
    judge(
      'Highest sustained mirrored rate',
      '≥ 0.45 × the combined ceiling',
      med(combinedRatio),
      '×',
      (v) => v >= 0.45,
      `${f(
        med((r) => r.pipeline.blocksPerSec),
        'blocks/s',
      )} of ${f(med(combinedCeiling), 'blocks/s')} blocks/s`,
    ),
    judge(
      'Total CPU per mirrored block (at the highest rate)',
      '≤ 320 µs',
      med((r) => sumCpu(r.pipeline.usage)),
      'µs',
      (v) => v <= 320,
      shares,
    ),
    judge(
      'RPO p99 at 50% of the highest rate, from when each write was due',
      '≤ 100 ms',
      med((r) => r.rpo50.rpo.p99),
      'ms',
      (v) => v <= 100,
    ),
    judge(
      'RPO p99.9 at 50% of the highest rate, from when each write was due',
      '≤ 200 ms',
      med((r) => r.rpo50.rpo.p999),
      'ms',
      (v) => v <= 200,
    ),
    judge(
      'Host write p99 through the primary, mirrored, / the same writes to plain files',
      '≤ 2 ×',
      med(writePathRatio),
      '×',
      (v) => v <= 2,
      `${f(
        med((r) => r.writePath.mirrored.p99),
        'ms',
      )} ms / ${f(
        med((r) => r.writePath.baseline.p99),
        'ms',
      )} ms`,
    ),
    judge(
      'Applier peak memory (VmHWM) with a 10× backlog / with 1×',
      '≤ 1.1 ×',
      med(memoryRatio),
      '×',
      (v) => v <= 1.1,
      `${f(
        med((r) => hwm(r, 10)),
        'MiB',
      )} MiB / ${f(
        med((r) => hwm(r, 1)),
        'MiB',
      )} MiB`,
    ),
    judge(
      'Primary CPU per mirrored block on @platformatic/kafka / on kafkajs, same run (issue 16)',
      '≤ 0.7 ×',
      med((r) => clientRatio(r, primaryCpu)),
      '×',
      (v) => v <= 0.7,
    ),
    judge(
      'Highest sustained rate on @platformatic/kafka / on kafkajs, same run (issue 16)',
      '> 1 ×',
      med((r) => clientRatio(r, (p) => p.blocksPerSec)),
      '×',
      (v) => v > 1,
      `${f(clientRate('platformatic'), 'blocks/s')} / ${f(clientRate('kafkajs'), 'blocks/s')} blocks/s`,
    ),
  ]
}

/** Medians over the runs, the targets judged on them, and the runs themselves. */
export function buildReport(options: {
  profile: BenchProfile
  machine: MachineInfo
  results: RunResult[]
  durationSeconds: number
  generatedAt?: Date
}): Report {
  const { results } = options
  const floors = [...new Set(results.flatMap((r) => (r.groupFloors ?? []).map((g) => g.groupMinIntervalMs)))].sort(
    (a, b) => a - b,
  )
  const metrics: Metric[] = figures(floors).map((f) => {
    const runs = results.map((r) => f.get(r, options.machine) ?? Number.NaN)
    return { section: f.section, label: f.label, unit: f.unit, median: median(runs), runs }
  })
  const targets = judgeTargets(results)
  return {
    generatedAt: (options.generatedAt ?? new Date()).toISOString(),
    profile: options.profile.name,
    runs: results.length,
    durationSeconds: round(options.durationSeconds, 1),
    machine: options.machine,
    metrics,
    targets,
    settings: results[0]?.settings ?? {},
    results,
  }
}

/** The hand-written findings of a previous BENCHMARKS.md (markers included), or a placeholder. */
export function carriedFindings(previous: string | undefined): string {
  const begin = previous?.indexOf(FINDINGS_BEGIN) ?? -1
  const end = previous?.indexOf(FINDINGS_END, begin) ?? -1
  if (previous !== undefined && begin >= 0 && end > begin) return previous.slice(begin, end + FINDINGS_END.length)
  return `${FINDINGS_BEGIN}\n_No findings written yet._\n${FINDINGS_END}`
}

const METHOD = `## Running it

\`npm run bench\` (3 runs, about 35 minutes on two cores, on the local stack: \`npm run stack -- up\`) writes this
file and \`bench/results/latest.json\`; \`npm run bench -- --quick\` runs everything once, small, in about a minute
(\`bench/results/quick.*\`; CI runs it). Flags: \`--runs N\`, \`--backlog <blocks>\`, \`--config <file>\`
(settings of the pipeline under test, e.g. \`{"mover": {"groupIntervalMs": 40}}\`), \`--cpu-prof\` (V8
profiles of the stage processes in \`bench/results/profiles/\`), \`--render\` (this file again from
\`bench/results/latest.json\`, no measuring). Both end with issue 17's verify and failback bench on a session of
its own (\`bench/results/failover.*\`, \`failover-quick.*\` for \`--quick\`; \`--failover\` runs only it; its
figures are quoted under Findings).

## How it is measured

- One run = its own session (topics, registry subjects, PostgreSQL schema, data folder), removed afterwards; 4
  controllers of 2 volumes, 4 KiB blocks, one block per host write at a random block; random (incompressible)
  data.
- Ceilings run alone. Kafka: \`org.apache.kafka.tools.ProducerPerformance\` from the stack's kafka-tools jars,
  4 KiB records to 4 partitions, acks=all, idempotence on, linger 5 ms, then the same records through kafkajs
  \`sendBatch\` (idempotent, acks -1, one request in flight, as the producer runs it). PostgreSQL: binary COPY
  (pg-copy-streams, the applier's encoder) into the block store's own tables (\`createBlockStore().init()\`),
  one transaction per group of the pipeline's median group size at its top rate; new keys only, so no DELETE.
- Combined ceiling: 1 / (1/ProducerPerformance + 1/COPY) blocks/s, both from the same run. The CPU per block
  of each ceiling: ProducerPerformance's JVM (its whole life, start-up included: the CPU of the bench's ended
  children, \`cutime + cstime\`) plus the broker's over the same span; COPY's client (the bench's own Node
  process, \`process.cpuUsage()\`) plus its PostgreSQL backend (found by application name, as the applier's are).
- The stages run as separate processes (primary with the load generator inside it, mover, applier), so each
  one's CPU (utime+stime from \`/proc/<pid>/stat\`) and memory (\`VmRSS\` sampled every 100 ms, \`VmHWM\`) are
  its own. CPU per block counts a phase from its first write to the commit of its last, divided by the blocks
  written; the primary's figures include the load generator (a buffer copy and a function call per write, and
  three numbers kept per write: 400k writes hold about 10 MiB). The broker and PostgreSQL serve every client
  of the shared stack: their figures are the bench's own only on a quiet machine.
- Highest sustained rate: first every block of every volume is written once through the pipeline (64 blocks
  per write), so the secondary holds them all as a running mirror's does and each measured write replaces a
  block there (on a store still filling, most writes add one, which the secondary took about twice as fast:
  the results before session 15's were measured so); then 64 writers in a closed loop, each waiting while
  16384 writes are not yet committed on the secondary, so the backlog stays bounded and the rate is one the
  whole pipeline keeps up with; the rate is writes committed per second after a settling period, from host
  write acknowledged to committed on the secondary.
- RPO: open loop at a fixed rate (50% and 80% of the highest); write *i* is due at start + *i*/rate, and its
  RPO is the commit time of the first group whose consistency time covers the write, minus when the write was
  due (so a stall counts against every write it held back: no coordinated omission). HdrHistogram, 3
  significant digits.
- Floor between cuts: the 50% RPO phase again with the mover restarted at each other
  \`mover.groupMinIntervalMs\` (it resumes from the journal's tail). A busy stream is cut once per floor, and
  every group costs each stage CPU whatever it holds, so the floor trades RPO's wait for a cut against CPU
  that, on two cores, the writes' own path competes for; the default mover is back for what follows.
- Memory with backlog: the applier is stopped, a backlog is written and journaled, then a fresh applier
  process catches up; its VmHWM with 1× and with 10× the backlog.
- Write path: open-loop writes at 50% of the highest rate in alternating slices, so a change in background
  load hits every variant alike: through the primary with the whole pipeline running; through the primary with
  the mover and applier frozen (SIGSTOP; they catch up afterwards), which leaves the primary's own cost and
  the broker's, since on this one machine the secondary's work competes for the same cores and disk; and the
  same writes to plain files laid out like the volume files (pwrite, then fdatasync, before acknowledging)
  with the pipeline idle. Every slice starts with the pipeline drained. Latency from when each write was due
  to its acknowledgement.
- Medians over the runs; each run's value is listed too. Numbers from a machine where other work ran (load
  average above the core count) are noisy.
`

/** Under the targets table: what the targets are measured against, and the one the bench does not measure. */
const TARGETS_NOTE = `Judged on the medians over the runs (the targets are meant for 3 runs on a quiet machine).
The combined ceiling is 1 / (1/ProducerPerformance + 1/COPY) of the same run: every mirrored block goes through
Kafka once and PostgreSQL once on this machine. The CPU per mirrored block counts every process of the pipeline
(the primary with the load generator inside it, the mover, the broker, the whole PostgreSQL server: the applier's
connections, the server's own processes and autovacuum, the applier); each stage's share is its median. RPO is
counted from when each write was due on the open-loop schedule (start + *i*/rate), not from when it was issued or
acknowledged. The demo's target (\`npm run demo\` on a quiet machine, RPO p99 ≤ 250 ms) is measured by hand, not
here.`

/** A load average above this many per core means more than the bench ran (its own processes stay well under it). */
export const BUSY_LOAD_PER_CORE = 3

/** BENCHMARKS.md: all generated, except the findings section carried over from `previous`. */
export function renderMarkdown(report: Report, previous: string | undefined): string {
  const m = report.machine
  const lines: string[] = []
  lines.push('# Benchmarks', '')
  lines.push(`<!-- generated by \`npm run bench\` (bench/report.ts): edit only the findings section -->`, '')
  lines.push(
    `Generated ${report.generatedAt} by \`npm run ` +
      `bench${report.profile === 'quick' ? ' -- --quick' : ''}\`: ${report.runs} run(s), medians ` +
      `shown, ${Math.round(report.durationSeconds)} s in all.`,
    '',
  )
  lines.push('## Machine', '')
  lines.push('| | |', '| --- | --- |')
  lines.push(
    `| CPU | ${m.cores} cores, ${m.cpuModel} |`,
    `| Memory | ${m.memoryGiB} GiB |`,
    `| Kernel | ${m.kernel} |`,
    `| Node.js | ${m.node} |`,
    `| Kafka | ${m.kafka} (single node, KRaft, local) |`,
    `| PostgreSQL | ${m.postgres} (local) |`,
  )
  const settings = settingsText(m.postgresSettings)
  if (settings) lines.push(`| PostgreSQL settings | ${settings} |`)
  const loads = report.results.map((r) => `${r.loadAverage.start} → ${r.loadAverage.end}`).join('; ')
  const busiest = Math.max(...report.results.flatMap((r) => [r.loadAverage.start, r.loadAverage.end]))
  // the bench's own five processes (two of them JVMs) keep the load average above the core count: only well above
  // that did other work compete
  const busy = busiest > BUSY_LOAD_PER_CORE * m.cores
  lines.push(
    `| Load average (1 min) per run, start → end | ${loads} (the bench's own processes count in ` +
      `it${busy ? `; above ${BUSY_LOAD_PER_CORE * m.cores}, other work competed, numbers are noisy` : ''}) |`,
    '',
  )
  lines.push('## Targets', '')
  lines.push('| Target | Goal | Measured (median) | Met |', '| --- | --- | --- | --- |')
  for (const t of report.targets)
    lines.push(`| ${t.name} | ${t.goal} | ${t.measured} | ${t.met === undefined ? 'n/a' : t.met ? 'yes' : '**no**'} |`)
  lines.push('', TARGETS_NOTE, '')
  lines.push('## Results', '')
  let section = ''
  for (const metric of report.metrics) {
    if (metric.section !== section) {
      section = metric.section
      lines.push('', `### ${section}`, '', '| Measurement | Median | Runs | Unit |', '| --- | ---: | --- | --- |')
    }
    lines.push(
      `| ${metric.label} | ${formatValue(metric.median, metric.unit)} | ` +
        `${metric.runs.map((v) => formatValue(v, metric.unit)).join(', ')} | ${metric.unit} |`,
    )
  }
  lines.push('', '## Settings of the pipeline under test', '', '| Setting | Value |', '| --- | --- |')
  for (const [k, v] of Object.entries(report.settings)) lines.push(`| \`${k}\` | ${v} |`)
  lines.push('', METHOD, '## Findings and changes', '', carriedFindings(previous), '')
  return lines.join('\n')
}
