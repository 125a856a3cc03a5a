import { describe, expect, it } from 'vitest'
import type { RunResult, StageUsage } from './benchRun.js'
import type { MachineInfo } from './machine.js'
import { PROFILES } from './profiles.js'
import {
  BUSY_LOAD_PER_CORE,
  FINDINGS_BEGIN,
  FINDINGS_END,
  buildReport,
  carriedFindings,
  formatValue,
  memoryRatio,
  renderMarkdown,
  throughputRatio,
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

function run(o: {
  pipeline: number
  kafka: number
  copy: number
  rpoP99: number
  hwm1: number
  hwm10: number
  mirroredP99: number
  aloneP99: number
}): RunResult {
  const rpo = {
    rate: o.pipeline / 2,
    blocks: 100,
    rpo: lat(o.rpoP99),
    rpoFromAck: lat(o.rpoP99),
    toJournal: lat(o.rpoP99 / 2),
    journalToSecondary: lat(o.rpoP99 / 2),
    writeLatency: lat(o.mirroredP99),
    usage: {},
    errors: 0,
  }
  return {
    session: 's',
    startedAt: '2026-01-01T00:00:00Z',
    loadAverage: { start: 0.5, end: 1 },
    kafka: {
      producerPerformance: { ...tp(o.kafka), avgLatencyMs: 5, p99LatencyMs: 20 },
      kafkajsSendBatch: tp(o.kafka / 2),
    },
    postgres: { copy: { ...tp(o.copy), blocksPerTransaction: 500, transactions: 2, medianTransactionMs: 30 } },
    pipeline: {
      blocksPerSec: o.pipeline,
      mibPerSec: o.pipeline / 256,
      medianGroupBlocks: 500,
      blocks: 1000,
      errors: 0,
      usage: { primary: use(200), mover: use(100) },
    },
    rpo50: rpo,
    rpo80: rpo,
    groupIntervals: [],
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
    settings: { 'mover.groupIntervalMs': 100 },
  }
}

const good = run({
  pipeline: 900,
  kafka: 1000,
  copy: 2000,
  rpoP99: 80,
  hwm1: 100,
  hwm10: 105,
  mirroredP99: 11,
  aloneP99: 10,
})
const bad = run({
  pipeline: 300,
  kafka: 1000,
  copy: 500,
  rpoP99: 300,
  hwm1: 100,
  hwm10: 150,
  mirroredP99: 30,
  aloneP99: 10,
})

describe('ratios', () => {
  it('compares the pipeline with the slower of the two ceilings', () => {
    expect(throughputRatio(good)).toBeCloseTo(0.9)
    expect(throughputRatio(bad)).toBeCloseTo(0.6) // PostgreSQL was the slower one
    expect(memoryRatio(bad)).toBeCloseTo(1.5)
  })
})

describe('buildReport', () => {
  it('takes medians over the runs and judges the targets on them', () => {
    const report = buildReport({ profile: PROFILES.full, machine, results: [good, good, bad], durationSeconds: 12.34 })
    expect(report.runs).toBe(3)
    const rate = report.metrics.find((m) => m.label === 'highest sustained mirrored rate' && m.unit === 'blocks/s')
    expect(rate?.runs).toEqual([900, 900, 300])
    expect(rate?.median).toBe(900)
    expect(report.targets.map((t) => t.met)).toEqual([true, true, true, true, true])
    const failing = buildReport({ profile: PROFILES.full, machine, results: [bad], durationSeconds: 1 })
    expect(failing.targets.map((t) => t.met)).toEqual([false, false, false, false, false])
    expect(failing.targets[0]?.measured).toBe('0.6×')
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
    expect(md).toContain('| Pipeline throughput | ≥ 0.8 × the slower ceiling | 0.9× | yes |')
    // regenerating from its own output keeps the findings exactly once
    const again = renderMarkdown(report, md)
    expect(again.split(FINDINGS_BEGIN).length).toBe(2)
    expect(again).toBe(md)
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
