import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { RunResult, StageUsage } from './benchRun.js'
import type { CeilingCpu } from './kafkaCeiling.js'
import type { MachineInfo } from './machine.js'
import { PROFILES } from './profiles.js'
import {
  BUSY_LOAD_PER_CORE,
  FINDINGS_BEGIN,
  FINDINGS_END,
  buildReport,
  carriedFindings,
  ceilingCpu,
  combinedCeiling,
  combinedRatio,
  formatValue,
  memoryRatio,
  renderMarkdown,
  sumCpu,
  throughputRatio,
  writePathRatio,
  type Report,
} from './report.js'
import type { LatencySummary } from './stats.js'

const machine: MachineInfo = {
  cores: 2,
  cpuModel: 'Test CPU',
  memoryGiB: 8,
  kernel: '6.1',
  node: 'v20.0.0',
  kafka: '4.1.1',
  postgres: '15.0',
}

const lat = (p99: number): LatencySummary => ({
  count: 100,
  p50: p99 / 2,
  p99,
  p999: p99 * 1.5,
  max: p99 * 2,
  missing: 0,
})
const use = (cpu: number, hwm = 100): StageUsage => ({
  cpuUsPerBlock: cpu,
  sysUsPerBlock: cpu / 4,
  peakRssMiB: hwm,
  hwmMiB: hwm,
})
const tp = (perSec: number) => ({ records: 1000, recordsPerSec: perSec, mbPerSec: perSec / 256, seconds: 1 })

/** CPU per block of the five stages, in the order: primary, mover, broker, PostgreSQL, applier. */
type Shares = [number, number, number, number, number]

function run(o: {
  pipeline: number
  kafka: number
  copy: number
  rpoP99: number
  hwm1: number
  hwm10: number
  mirroredP99: number
  aloneP99: number
  cpu: Shares
  /** p99.9 = p99 × this (1.5 unless said). */
  tail?: number
  /** The pipeline with the hot path on kafkajs, then on platformatic: rate, primary CPU per block. */
  clients?: [[number, number], [number, number]]
}): RunResult {
  const tail = (p99: number): LatencySummary => ({ ...lat(p99), p999: p99 * (o.tail ?? 1.5) })
  const rpo = {
    rate: o.pipeline / 2,
    blocks: 100,
    rpo: tail(o.rpoP99),
    rpoFromAck: lat(o.rpoP99),
    toJournal: lat(o.rpoP99 / 2),
    journalToSecondary: lat(o.rpoP99 / 2),
    writeLatency: lat(o.mirroredP99),
    usage: {},
    groupsPerSec: 40,
    errors: 0,
  }
  const [primary, mover, broker, postgres, applier] = o.cpu
  return {
    session: 's',
    startedAt: '2026-01-01T00:00:00Z',
    loadAverage: { start: 0.5, end: 1 },
    kafka: {
      producerPerformance: {
        ...tp(o.kafka),
        avgLatencyMs: 5,
        p99LatencyMs: 20,
        cpu: { clientUsPerBlock: 30, serverUsPerBlock: 20 },
      },
      kafkajsSendBatch: tp(o.kafka / 2),
    },
    postgres: {
      copy: {
        ...tp(o.copy),
        blocksPerTransaction: 500,
        transactions: 2,
        medianTransactionMs: 30,
        cpu: { clientUsPerBlock: 15, serverUsPerBlock: 45 },
      },
    },
    pipeline: {
      blocksPerSec: o.pipeline,
      mibPerSec: o.pipeline / 256,
      medianGroupBlocks: 500,
      blocks: 1000,
      errors: 0,
      usage: {
        primary: use(primary),
        mover: use(mover),
        'kafka broker': use(broker),
        'postgres (server)': use(postgres),
        applier: use(applier),
      },
    },
    rpo50: rpo,
    rpo80: rpo,
    groupFloors: [],
    writePath: { rate: 100, mirrored: lat(o.mirroredP99), primaryOnly: lat(o.mirroredP99), baseline: lat(o.aloneP99) },
    backlog: [
      {
        factor: 1,
        blocks: 10,
        write: {},
        catchUpSeconds: 1,
        catchUpBlocksPerSec: 10,
        catchUp: { applier: use(50, o.hwm1) },
      },
      {
        factor: 10,
        blocks: 100,
        write: {},
        catchUpSeconds: 5,
        catchUpBlocksPerSec: 20,
        catchUp: { applier: use(40, o.hwm10) },
      },
    ],
    clients: (['kafkajs', 'platformatic'] as const).map((client, i) => {
      const [rate, primaryCpu] = (o.clients ?? [
        [400, 100],
        [500, 60],
      ])[i] as [number, number]
      return { client, blocksPerSec: rate, usage: { primary: use(primaryCpu), mover: use(50) } }
    }),
    settings: { 'mover.groupIntervalMs': 100 },
  }
}

// every target met: 500 of a combined 500 blocks/s, 280 µs, RPO 80/120 ms, write 1.5×, memory 1.05×
const goodRun: Parameters<typeof run>[0] = {
  pipeline: 500,
  kafka: 1000,
  copy: 1000,
  rpoP99: 80,
  hwm1: 100,
  hwm10: 105,
  mirroredP99: 15,
  aloneP99: 10,
  cpu: [100, 60, 50, 40, 30],
}
const good = run(goodRun)
// every target missed: 100 of a combined 333 blocks/s, 668 µs, RPO 300/450 ms, write 3×, memory 1.5×
const bad = run({
  pipeline: 100,
  kafka: 1000,
  copy: 500,
  rpoP99: 300,
  hwm1: 100,
  hwm10: 150,
  mirroredP99: 30,
  aloneP99: 10,
  cpu: [237, 152, 108, 91, 80],
  clients: [
    [400, 100],
    [380, 90],
  ],
})

describe('ratios', () => {
  it('combines the two ceilings like times: 1 / (1/ProducerPerformance + 1/COPY)', () => {
    expect(combinedCeiling(good)).toBeCloseTo(500)
    expect(combinedCeiling(bad)).toBeCloseTo(1000 / 3)
    expect(combinedRatio(good)).toBeCloseTo(1)
    expect(combinedRatio(bad)).toBeCloseTo(0.3)
    // a ceiling that was not measured leaves no combined ceiling, not an infinite one
    const noCopy = { ...bad, postgres: { copy: { ...bad.postgres.copy, recordsPerSec: 0 } } }
    expect(combinedCeiling(noCopy)).toBeNaN()
    expect(combinedRatio(noCopy)).toBeNaN()
  })

  it('compares the pipeline with the slower of the two ceilings', () => {
    expect(throughputRatio(good)).toBeCloseTo(0.5)
    expect(throughputRatio(bad)).toBeCloseTo(0.2) // PostgreSQL was the slower one
  })

  it('divides host write p99 mirrored by alone, and the applier peak RSS at 10x by 1x', () => {
    expect(writePathRatio(good)).toBeCloseTo(1.5)
    expect(writePathRatio(bad)).toBeCloseTo(3)
    expect(memoryRatio(good)).toBeCloseTo(1.05)
    expect(memoryRatio(bad)).toBeCloseTo(1.5)
  })

  it('adds the CPU of every stage, and of client and server of a ceiling', () => {
    expect(sumCpu(good.pipeline.usage)).toBeCloseTo(280)
    expect(sumCpu(bad.pipeline.usage)).toBeCloseTo(668)
    expect(ceilingCpu(good.kafka.producerPerformance.cpu)).toBe(50)
    expect(ceilingCpu(good.postgres.copy.cpu)).toBe(60)
    expect(ceilingCpu(undefined)).toBeNaN()
    // a broker that could not be read: NaN, which the saved JSON holds as null, never counted as 0
    const unread = JSON.parse(JSON.stringify({ clientUsPerBlock: 30, serverUsPerBlock: Number.NaN })) as CeilingCpu
    expect(ceilingCpu(unread)).toBeNaN()
  })
})

describe('buildReport', () => {
  const metric = (report: Report, label: string, unit: string): Report['metrics'][number] | undefined =>
    report.metrics.find((m) => m.label === label && m.unit === unit)

  it('takes medians over the runs and judges the targets on them', () => {
    const report = buildReport({ profile: PROFILES.full, machine, results: [good, good, bad], durationSeconds: 12.34 })
    expect(report.runs).toBe(3)
    const rate = metric(report, 'highest sustained mirrored rate', 'blocks/s')
    expect(rate?.runs).toEqual([500, 500, 100])
    expect(rate?.median).toBe(500)
    expect(report.targets.map((t) => t.met)).toEqual([true, true, true, true, true, true, true, true])
    const failing = buildReport({ profile: PROFILES.full, machine, results: [bad], durationSeconds: 1 })
    expect(failing.targets.map((t) => t.met)).toEqual([false, false, false, false, false, false, false, false])
    expect(failing.targets.map((t) => t.measured)).toEqual([
      '0.3× (100 of 333 blocks/s)',
      '668 µs (primary (with the load generator) 237, mover 152, broker 108, PostgreSQL 91, applier 80)',
      '300 ms',
      '450 ms',
      '3× (30 ms / 10 ms)',
      '1.5× (150 MiB / 100 MiB)',
      '0.9×',
      '0.95× (380 / 400 blocks/s)',
    ])
  })

  it('judges each target on its own bound: one just past it is missed, the others met', () => {
    // RPO p99.9 of 210 ms: under the old 250 ms bound, over the 200 ms
    const tailHeavy = run({
      pipeline: 500,
      kafka: 1000,
      copy: 1000,
      rpoP99: 100,
      hwm1: 100,
      hwm10: 110,
      mirroredP99: 20,
      aloneP99: 10,
      cpu: [100, 60, 60, 60, 40],
      tail: 2.1,
    })
    const report = buildReport({ profile: PROFILES.full, machine, results: [tailHeavy], durationSeconds: 1 })
    // on the bounds: 1.0× of the ceiling, 320 µs, p99 100 ms, 2×, 1.1× are met
    expect(report.targets.map((t) => t.met)).toEqual([true, true, true, false, true, true, true, true])
    const slow = { ...tailHeavy, pipeline: { ...tailHeavy.pipeline, blocksPerSec: 224 } }
    const judged = buildReport({ profile: PROFILES.full, machine, results: [slow], durationSeconds: 1 })
    expect(judged.targets[0]?.met).toBe(false) // 224 / 500 = 0.448 < 0.45
    expect(judged.targets[0]?.measured).toBe('0.45× (224 of 500 blocks/s)') // rounded for show, judged unrounded
  })

  it('reports the combined ceiling, its CPU per block, and the ratio to it', () => {
    const report = buildReport({ profile: PROFILES.full, machine, results: [good, bad], durationSeconds: 1 })
    const combined = metric(report, 'combined ceiling: 1 / (1/ProducerPerformance + 1/COPY)', 'blocks/s')
    expect(combined?.runs[0]).toBeCloseTo(500)
    expect(combined?.runs[1]).toBeCloseTo(333.33, 1)
    expect(metric(report, 'ProducerPerformance CPU per block: client + broker', 'µs')?.median).toBe(50)
    expect(metric(report, 'COPY CPU per block: client + backend', 'µs')?.median).toBe(60)
    expect(metric(report, 'CPU per block of both ceilings (client + broker, client + backend)', 'µs')?.median).toBe(110)
    expect(metric(report, 'ratio to the combined ceiling', '×')?.runs.map((v) => v.toFixed(2))).toEqual([
      '1.00',
      '0.30',
    ])
    // the old figure stays, next to the new one
    expect(
      metric(report, 'ratio to the slower of Kafka (ProducerPerformance) and PostgreSQL (COPY)', '×'),
    ).toBeDefined()
  })

  it('lists each section once, its rows together, the other floors between cuts lowest first', () => {
    const tried = { ...good, groupFloors: [40, 10].map((ms) => ({ groupMinIntervalMs: ms, rpo: good.rpo50 })) }
    const report = buildReport({ profile: PROFILES.full, machine, results: [tried], durationSeconds: 1 })
    const sections = report.metrics.map((m) => m.section).filter((s, i, all) => s !== all[i - 1])
    expect(new Set(sections).size).toBe(sections.length)
    expect(sections.slice(0, 4)).toEqual([
      'Kafka ceiling',
      'PostgreSQL ceiling',
      'Combined ceiling (every block through Kafka once and PostgreSQL once)',
      'Pipeline',
    ])
    expect(sections.slice(-5)).toEqual([
      'Backlog 1x (applier started late)',
      'Backlog 10x (applier started late)',
      'Backlog',
      'Write path (at 50% of the highest rate, alternating slices)',
      'Kafka client libraries (kafka.client: the hot path)',
    ])
    const rows = report.metrics.map((m) => `${m.section} | ${m.label} | ${m.unit}`)
    expect(new Set(rows).size).toBe(rows.length)
    const floors = report.metrics.filter((m) => m.section.includes('another floor between cuts')).map((m) => m.label)
    expect(floors).toEqual(
      [10, 40].flatMap((ms) => [
        `mover.groupMinIntervalMs ${ms}: p50`,
        `mover.groupMinIntervalMs ${ms}: p99`,
        `mover.groupMinIntervalMs ${ms}: p99.9`,
        `mover.groupMinIntervalMs ${ms}: groups committed`,
        `mover.groupMinIntervalMs ${ms}: CPU per block, all processes`,
      ]),
    )
    expect(metric(report, 'mover.groupMinIntervalMs 40: p99', 'ms')?.median).toBe(good.rpo50.rpo.p99)
    // each RPO phase says how many groups it cut: every group costs each stage CPU
    expect(
      report.metrics.filter((m) => m.label === 'groups committed' && m.unit === 'per s').map((m) => m.median),
    ).toEqual([40, 40])
    // results saved before the floors were tried (they tried mover.groupIntervalMs) still render, without these rows
    const { groupFloors: _, ...older } = tried
    const old = buildReport({ profile: PROFILES.full, machine, results: [older], durationSeconds: 1 })
    expect(old.metrics.filter((m) => m.section.includes('another floor between cuts'))).toEqual([])
  })

  it("compares the Kafka client libraries: each one's pipeline, and platformatic over kafkajs, judged at 0.7×", () => {
    const onBound = run({
      ...goodRun,
      clients: [
        [400, 100],
        [400, 70],
      ],
    })
    const report = buildReport({ profile: PROFILES.full, machine, results: [onBound], durationSeconds: 1 })
    expect(metric(report, 'kafkajs: pipeline, primary CPU per mirrored block', 'µs')?.median).toBe(100)
    expect(metric(report, 'platformatic: pipeline, CPU per mirrored block, all processes', 'µs')?.median).toBe(120)
    expect(metric(report, 'platformatic / kafkajs: primary CPU per mirrored block', '×')?.median).toBeCloseTo(0.7)
    const [cpu, rate] = report.targets.slice(-2)
    expect(cpu?.met).toBe(true) // 0.7× is on the bound
    expect(rate?.met).toBe(false) // the same rate is not higher
    // results saved before the clients were compared: n/a, not judged
    const { clients: _gone, ...older } = onBound
    const before = buildReport({ profile: PROFILES.full, machine, results: [older], durationSeconds: 1 })
    expect(before.targets.slice(-2).map((t) => t.met)).toEqual([undefined, undefined])
  })

  it('reads results saved before the ceilings CPU was measured: those figures n/a, the targets judged', () => {
    // a saved run of 2026-12-06 from before that field (a fixture: results/latest.json changes with every full run)
    const fixture = new URL('./fixtures/results-before-ceiling-cpu.json', import.meta.url)
    const saved = JSON.parse(readFileSync(fixture, 'utf8')) as Report
    const report = buildReport({
      profile: PROFILES[saved.profile],
      machine: saved.machine,
      results: saved.results,
      durationSeconds: saved.durationSeconds,
    })
    expect(metric(report, 'ProducerPerformance CPU per block: client + broker', 'µs')?.median).toBeNaN()
    const [rate, cpu] = report.targets
    expect(rate?.measured).toMatch(/^0\.23× \(2668 of 11799 blocks\/s\)$/)
    expect(rate?.met).toBe(false)
    expect(cpu?.measured).toMatch(/^648 µs \(primary \(with the load generator\) 237, mover 152, broker 108, /)
    expect(renderMarkdown(report, undefined)).toContain('| n/a | n/a, n/a, n/a | µs |')
  })
})

describe('renderMarkdown', () => {
  it('carries the hand-written findings over unchanged and regenerates the rest', () => {
    const report = buildReport({ profile: PROFILES.full, machine, results: [good], durationSeconds: 1 })
    const previous = `# Old\n| stale | table |\n${FINDINGS_BEGIN}\nThe mover cut groups late; fixed.\n${FINDINGS_END}\ntrailing`
    const md = renderMarkdown(report, previous)
    expect(md).toContain(`${FINDINGS_BEGIN}\nThe mover cut groups late; fixed.\n${FINDINGS_END}`)
    expect(md).not.toContain('stale')
    expect(md).toContain('| CPU | 2 cores, Test CPU |')
    expect(md).toContain(
      '| Highest sustained mirrored rate | ≥ 0.45 × the combined ceiling | 1× (500 of 500 blocks/s) | yes |',
    )
    expect(md).toContain('from when each write was due on the open-loop')
    // regenerating from its own output keeps the findings exactly once
    const again = renderMarkdown(report, md)
    expect(again.split(FINDINGS_BEGIN).length).toBe(2)
    expect(again).toBe(md)
  })

  it("names the PostgreSQL server's settings when the run recorded them", () => {
    const withSettings = { ...machine, postgresSettings: { shared_buffers: '128MB', autovacuum: 'off' } }
    const report = buildReport({ profile: PROFILES.full, machine: withSettings, results: [bad], durationSeconds: 1 })
    expect(renderMarkdown(report, '')).toContain('| PostgreSQL settings | shared_buffers 128MB, autovacuum off |')
    const without = buildReport({ profile: PROFILES.full, machine, results: [bad], durationSeconds: 1 })
    expect(renderMarkdown(without, '')).not.toContain('PostgreSQL settings')
  })

  it('shows a missed target as no', () => {
    const md = renderMarkdown(buildReport({ profile: PROFILES.full, machine, results: [bad], durationSeconds: 1 }), '')
    expect(md).toContain('| Total CPU per mirrored block (at the highest rate) | ≤ 320 µs | 668 µs (')
    const table = md.slice(md.indexOf('## Targets'), md.indexOf('Judged on the medians'))
    const rows = table
      .split('\n')
      .filter((l) => l.startsWith('| ') && !l.startsWith('| Target |') && !l.startsWith('| ---'))
    expect(rows).toHaveLength(8)
    for (const row of rows) expect(row.endsWith('| **no** |')).toBe(true)
  })

  it('starts a findings section when there is none, and flags a busy machine', () => {
    const busy = { ...good, loadAverage: { start: 3.5, end: 4 * BUSY_LOAD_PER_CORE * machine.cores } }
    const md = renderMarkdown(
      buildReport({ profile: PROFILES.quick, machine, results: [busy], durationSeconds: 1 }),
      undefined,
    )
    expect(carriedFindings(undefined)).toContain('No findings written yet')
    expect(md).toContain(FINDINGS_END)
    expect(md).toContain('other work competed')
    expect(md).toContain('npm run bench -- --quick')
  })
})

describe('formatValue', () => {
  it('rounds by unit and says n/a for what was not measured', () => {
    expect(formatValue(0.8349, '×')).toBe('0.83')
    expect(formatValue(12.345, 'ms')).toBe('12.3')
    expect(formatValue(123.45, 'ms')).toBe('123')
    expect(formatValue(2223.4, 'blocks/s')).toBe('2223')
    expect(formatValue(Number.NaN, 'ms')).toBe('n/a')
  })
})
