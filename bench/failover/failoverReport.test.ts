import { describe, expect, it } from 'vitest'
import { latencySummary } from '../stats.js'
import {
  changedSegmentBytes,
  judgeTargets,
  p99Ratio,
  renderFailoverReport,
  verifyTotals,
  type FailoverBenchReport,
  type VerifyPhase,
} from './failoverReport.js'

const lat = (values: number[]) => latencySummary(values)

const phase = (kind: VerifyPhase['kind'], verify?: VerifyPhase['verify']): VerifyPhase => ({
  kind,
  rate: 100,
  blocks: 300,
  rpo: lat([10, 20, 30]),
  writeLatency: lat([1, 2, 3]),
  ...(verify ? { verify } : {}),
})

describe('verifyTotals', () => {
  it('takes the rate over every with phase together (bytes / time), and sums passes and mismatches', () => {
    const t = verifyTotals([
      phase('without'),
      phase('with', { bytes: 30 * 2 ** 20, ms: 2000, passes: 1, mismatches: 0, unverifiable: 0 }),
      phase('with', { bytes: 10 * 2 ** 20, ms: 2000, passes: 0, mismatches: 2, unverifiable: 1 }),
      phase('without'),
    ])
    expect(t).toEqual({ verifyMiBps: 10, verifyPasses: 1, mismatches: 2 })
  })

  it('has no rate without a with phase', () => {
    expect(verifyTotals([phase('without')]).verifyMiBps).toBeNaN()
  })
})

describe('changedSegmentBytes', () => {
  const volumes = [
    { name: 'a', blocks: 1000 },
    { name: 'b', blocks: 300 },
  ]

  it('counts each segment once, whole, and a short last segment by its own size', () => {
    const r = changedSegmentBytes(
      [
        { volume: 'a', first: 5 },
        { volume: 'a', first: 200 }, // same segment as block 5
        { volume: 'a', first: 900 }, // last segment of a: blocks 768..999
        { volume: 'b', first: 299 }, // last segment of b: blocks 256..299
      ],
      volumes,
      256,
      4096,
    )
    expect(r).toEqual({ segments: 3, bytes: (256 + 232 + 44) * 4096 })
  })
})

describe('p99Ratio', () => {
  it('is with / without, 2 decimals', () => {
    expect(p99Ratio(lat([150]), lat([100]))).toBe(1.5)
  })
})

describe('judgeTargets and the report', () => {
  const partial: Omit<FailoverBenchReport, 'targets'> = {
    generatedAt: '2026-12-06T00:00:00.000Z',
    profile: 'full',
    command: 'npm run bench -- --failover',
    durationSeconds: 600,
    machine: { cores: 2, node: 'v20', postgres: '15', kafka: '4.1' },
    load: { start: 20, end: 25 },
    verify: {
      volume: 'c0v0',
      volumeBlocks: 262_144,
      segmentBlocks: 256,
      fill: { seconds: 60, mibPerSec: 17.1 },
      highestBlocksPerSec: 4000,
      rate: 2000,
      phaseMs: 45_000,
      verifyBoundMiBps: 64,
      phases: [
        phase('without'),
        phase('with', { bytes: 2 ** 30, ms: 40_000, passes: 1, mismatches: 0, unverifiable: 3 }),
      ],
      rpoWithout: lat([100]),
      rpoWith: lat([150]),
      p99Ratio: 1.5,
      verifyMiBps: 25.6,
      verifyPasses: 1,
      mismatches: 0,
    },
    failback: {
      volumes: 8,
      segments: 1136,
      segmentBlocks: 256,
      changedSegments: 11,
      changedBytes: 11 * 2 ** 20,
      failoverSeconds: 30,
      failbackSeconds: 40,
      segmentsCopied: 11,
      bytesCopied: 11 * 2 ** 20,
      fullCopyBytes: 1136 * 2 ** 20,
      fraction: 11 / 1136,
      overChanged: 1,
      passes: [{ phase: 'online', compared: 1136, copied: 11, deferred: 0, bytesCopied: 11 * 2 ** 20 }],
    },
  }

  it("names the issue's three figures, none judged (the issue sets no bound)", () => {
    const targets = judgeTargets(partial)
    expect(targets.map((t) => t.met)).toEqual([undefined, undefined, undefined])
    expect(targets[0]?.name).toContain('1024 MiB volume')
    expect(targets[0]?.measured).toBe('25.6 MiB/s (1 whole pass(es), --rate 64; 0 mismatches)')
    // HdrHistogram keeps 3 significant digits: 150 may read 150.01
    expect(targets[1]?.measured).toMatch(/^150(\.\d+)? ms with vs 100(\.\d+)? ms without \(1\.5×\)$/)
    expect(targets[2]?.name).toContain('0.97% of segments changed')
    expect(targets[2]?.measured).toBe("11 MiB vs 1136 MiB (0.97%; 11 of 1136 segments; 1× the changed segments' bytes)")
  })

  it('renders the targets, every phase and every failback pass, and says when the machine was busy', () => {
    const md = renderFailoverReport({ ...partial, targets: judgeTargets(partial) })
    expect(md).toContain('load average 20 → 25 (above the core count')
    expect(md).toContain('| 2 | with | 300 |')
    expect(md).toContain('| online | 1136 | 11 | 0 | 11534336 |')
    expect(md).toContain('p99 with / without 1.5×')
  })
})
