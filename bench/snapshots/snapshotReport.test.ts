import { describe, expect, it } from 'vitest'
import {
  applyFigures,
  creationEqual,
  judgeTargets,
  pairOrder,
  renderSnapshotReport,
  summarize,
  type ApplyPass,
  type SnapshotBenchReport,
} from './snapshotReport.js'

describe('summarize', () => {
  it('gives min, median, nearest-rank p95 and max', () => {
    const s = summarize(Array.from({ length: 20 }, (_, i) => 20 - i)) // 1..20, unsorted
    expect(s).toEqual({ count: 20, min: 1, median: 10.5, p95: 19, max: 20 })
  })

  it('leaves out non-finite values and is NaN for none', () => {
    expect(summarize([3, Number.NaN, 1, Infinity])).toEqual({ count: 2, min: 1, median: 2, p95: 3, max: 3 })
    expect(Number.isNaN(summarize([]).median)).toBe(true)
  })

  it('rounds to 2 decimals', () => {
    expect(summarize([1.23456]).p95).toBe(1.23)
  })
})

describe('pairOrder', () => {
  it('alternates A B, B A', () => {
    expect([0, 1, 2, 3].map((i) => pairOrder(i, 'a', 'b').join(''))).toEqual(['ab', 'ba', 'ab', 'ba'])
  })
})

describe('creationEqual', () => {
  const t = (median: number): ReturnType<typeof summarize> => ({
    count: 1,
    min: median,
    median,
    p95: median,
    max: median,
  })
  it('is within 2x or 5 ms, and under 100 ms', () => {
    expect(creationEqual(t(7), t(4))).toBe(true)
    expect(creationEqual(t(3), t(0.5))).toBe(true) // 2.5 ms apart
    expect(creationEqual(t(30), t(10))).toBe(false)
    expect(creationEqual(t(150), t(140))).toBe(false)
    expect(creationEqual(t(5), t(Number.NaN))).toBe(false)
  })
})

const pass = (kind: ApplyPass['kind'], blocksPerSecond: number): ApplyPass => ({
  kind,
  blocks: 1000,
  seconds: 1000 / blocksPerSecond,
  blocksPerSecond,
  versionsKept: kind === 'none' ? 0 : 1000,
})

describe('applyFigures', () => {
  it('takes the median per kind and the ratios to no snapshot', () => {
    const f = applyFigures([pass('none', 10_000), pass('held', 9000), pass('held', 7000), pass('none', 12_000)])
    expect(f).toMatchObject({ noneBlocksPerSecond: 11_000, heldBlocksPerSecond: 8000, heldRatio: 0.73 })
    expect(Number.isNaN(f.everyGroupRatio)).toBe(true)
  })
})

function report(): Omit<SnapshotBenchReport, 'targets'> {
  const ms = (m: number): ReturnType<typeof summarize> => summarize([m, m + 1, m + 2])
  return {
    generatedAt: '2026-12-07T00:00:00.000Z',
    profile: 'quick',
    command: 'npm run bench -- --snapshots --quick',
    durationSeconds: 100,
    machine: { cores: 2, node: 'v20', postgres: '15', kafka: '4.1.1' },
    load: { start: 5, end: 6 },
    creation: {
      repeats: 3,
      medianRatio: 1.1,
      volumes: [
        {
          label: '1 GiB',
          blocks: 262_144,
          fillSeconds: 30,
          fillBlocksPerSecond: 8738,
          createMs: ms(4),
          deleteMs: ms(3),
        },
        { label: '16 MiB', blocks: 4096, fillSeconds: 1, fillBlocksPerSecond: 4096, createMs: ms(4), deleteMs: ms(3) },
      ],
    },
    apply: {
      volumeBlocks: 16_384,
      groupBlocks: 2000,
      passes: [pass('none', 10_000), pass('held', 9000), pass('every-group', 8000)],
      ...applyFigures([pass('none', 10_000), pass('held', 9000), pass('every-group', 8000)]),
    },
    recovery: {
      groups: 12,
      groupBlocks: 1000,
      volumes: 8,
      blocksPerVolume: 1024,
      snapshotAtGroup: 10,
      runs: [
        { kind: 'from-group-1', seconds: 4, groupsApplied: 12, blocksApplied: 12_000 },
        { kind: 'via-snapshot', seconds: 1, groupsApplied: 2, blocksApplied: 2000, seedSeconds: 0.5 },
      ],
      fromGroup1Seconds: summarize([4]),
      viaSnapshotSeconds: summarize([1]),
      ratio: 0.25,
    },
  }
}

describe('judgeTargets and the Markdown', () => {
  it('judges creation and apply, and reports recovery as a figure', () => {
    const targets = judgeTargets(report())
    expect(targets.map((t) => t.met)).toEqual([true, true, undefined])
    expect(targets[0]?.name).toBe('Snapshot creation, 1024 MiB vs 16 MiB volume')
    expect(targets[1]?.measured).toBe('0.9× (9000 vs 10000 blocks/s)')
    expect(targets[2]?.measured).toBe('median 1 s vs 4 s (0.25×)')
  })

  it('renders the targets, every pass and run, and says a busy machine makes the figures noisy', () => {
    const r = { ...report(), targets: judgeTargets(report()) }
    const md = renderSnapshotReport(r)
    expect(md).toContain('| Apply throughput, one snapshot held, every block overwritten | ≥ 0.8 × without | 0.9×')
    expect(md).toContain('| 3 | every-group | 1000 |')
    expect(md).toContain('| 2 | via-snapshot | 1 | 0.5 | 2 | 2000 |')
    expect(md).toContain('| 1 | from-group-1 | 4 |  | 12 | 12000 |')
    expect(md).toContain('the figures are noisy')
    expect(renderSnapshotReport({ ...r, load: { start: 0.5, end: 1 } })).not.toContain('noisy')
  })
})
