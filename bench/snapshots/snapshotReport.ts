/**
 * The snapshot benchmark's figures and report (`npm run bench -- --snapshots`,
 * snapshotBench.ts): timing summaries, the order of alternating pairs, the
 * issue's targets judged on the measured figures, and the Markdown. Pure code.
 */
import { reportHead, type BenchReportHead, type Target } from '../report.js'
import { median, ratio, round } from '../stats.js'

/** A set of timings, in milliseconds (or seconds, as the caller keeps them). */
export interface TimingSummary {
  count: number
  min: number
  median: number
  /** Nearest-rank 95th percentile. */
  p95: number
  max: number
}

/** min/median/p95/max of `values` (non-finite ones left out), to 2 decimals; NaN throughout when none is left. */
export function summarize(values: readonly number[]): TimingSummary {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return { count: 0, min: NaN, median: NaN, p95: NaN, max: NaN }
  const rank = Math.max(1, Math.ceil(0.95 * v.length))
  return {
    count: v.length,
    min: round(v[0] as number, 2),
    median: round(median(v), 2),
    p95: round(v[rank - 1] as number, 2),
    max: round(v[v.length - 1] as number, 2),
  }
}

/**
 * The two variants of pair `i` in the order they run: A B, B A, A B, ...
 * (ABBA), so a drift of the machine's load over the run hits both alike.
 */
export function pairOrder<T>(i: number, a: T, b: T): [T, T] {
  return i % 2 === 0 ? [a, b] : [b, a]
}

/** One volume of the creation phase. */
export interface CreationFigures {
  label: string
  blocks: number
  /** Filling it through applyGroups: seconds, and blocks/s. */
  fillSeconds: number
  fillBlocksPerSecond: number
  createMs: TimingSummary
  deleteMs: TimingSummary
}

/** One timed overwrite pass of the apply phase. */
export interface ApplyPass {
  kind: 'none' | 'held' | 'every-group'
  blocks: number
  seconds: number
  blocksPerSecond: number
  /** Kept versions the pass left in snapshot_versions (copy on write), before the snapshots were deleted. */
  versionsKept: number
}

/** One timed recovery to group G. */
export interface RecoveryRun {
  kind: 'from-group-1' | 'via-snapshot'
  seconds: number
  groupsApplied: number
  blocksApplied: number
  /** via-snapshot: of `seconds`, the copy of the snapshot's image into the target (the seed). */
  seedSeconds?: number
}

export type { Target } from '../report.js'

export interface SnapshotBenchReport extends BenchReportHead {
  creation: { repeats: number; volumes: CreationFigures[]; medianRatio: number }
  apply: {
    volumeBlocks: number
    groupBlocks: number
    passes: ApplyPass[]
    noneBlocksPerSecond: number
    heldBlocksPerSecond: number
    everyGroupBlocksPerSecond: number
    heldRatio: number
    everyGroupRatio: number
  }
  recovery: {
    groups: number
    groupBlocks: number
    volumes: number
    blocksPerVolume: number
    snapshotAtGroup: number
    runs: RecoveryRun[]
    fromGroup1Seconds: TimingSummary
    viaSnapshotSeconds: TimingSummary
    /** via snapshot / from group 1, medians. */
    ratio: number
  }
  targets: Target[]
}

/** The apply phase's medians and ratios from its passes. */
export function applyFigures(
  passes: readonly ApplyPass[],
): Omit<SnapshotBenchReport['apply'], 'volumeBlocks' | 'groupBlocks' | 'passes'> {
  const rate = (kind: ApplyPass['kind']): number =>
    round(median(passes.filter((p) => p.kind === kind).map((p) => p.blocksPerSecond)))
  const none = rate('none')
  const held = rate('held')
  const everyGroup = rate('every-group')
  return {
    noneBlocksPerSecond: none,
    heldBlocksPerSecond: held,
    everyGroupBlocksPerSecond: everyGroup,
    heldRatio: round(ratio(held, none), 2),
    everyGroupRatio: round(ratio(everyGroup, none), 2),
  }
}

/**
 * Creation "equal within noise, milliseconds": the large volume's median is
 * under 100 ms and within 2x, or 5 ms, of the small one's.
 */
export function creationEqual(large: TimingSummary, small: TimingSummary): boolean {
  if (!(large.median < 100) || !Number.isFinite(small.median)) return false
  return large.median <= 2 * small.median || large.median - small.median <= 5
}

/** The three targets, judged on the report's figures. */
export function judgeTargets(r: Omit<SnapshotBenchReport, 'targets'>): Target[] {
  const [large, small] = r.creation.volumes
  const mib = (v: CreationFigures | undefined): string => `${((v?.blocks ?? 0) * 4096) / 2 ** 20} MiB`
  const creation: Target = {
    name: `Snapshot creation, ${mib(large)} vs ${mib(small)} volume`,
    goal: 'equal within noise, milliseconds',
    measured:
      large && small
        ? `median ${large.createMs.median} vs ${small.createMs.median} ms (${r.creation.medianRatio}×), ` +
          `p95 ${large.createMs.p95} vs ${small.createMs.p95} ms`
        : 'not measured',
    met: large && small ? creationEqual(large.createMs, small.createMs) : undefined,
  }
  const a = r.apply
  const apply: Target = {
    name: 'Apply throughput, one snapshot held, every block overwritten',
    goal: '≥ 0.8 × without',
    measured: `${a.heldRatio}× (${a.heldBlocksPerSecond} vs ${a.noneBlocksPerSecond} blocks/s)`,
    met: Number.isFinite(a.heldRatio) ? a.heldRatio >= 0.8 : undefined,
  }
  const rc = r.recovery
  const recovery: Target = {
    name: `Recovery to group ${rc.groups}, via the snapshot at ${rc.snapshotAtGroup} vs from group 1`,
    goal: 'time, both',
    measured: `median ${rc.viaSnapshotSeconds.median} s vs ${rc.fromGroup1Seconds.median} s (${rc.ratio}×)`,
    met: undefined,
  }
  return [creation, apply, recovery]
}

const timing = (t: TimingSummary): string => `${t.min} / ${t.median} / ${t.p95}`

/** bench/results/snapshots.md. */
export function renderSnapshotReport(r: SnapshotBenchReport): string {
  return [
    ...reportHead(`# Snapshot benchmark (${r.generatedAt}, ${r.profile}, ${Math.round(r.durationSeconds)} s)`, r),
    '',
    ...creationSection(r),
    ...applySection(r),
    ...recoverySection(r),
  ].join('\n')
}

function creationSection(r: SnapshotBenchReport): string[] {
  return [
    `## Creation (${r.creation.repeats} creates and deletes per volume, alternating volumes, nothing else running)`,
    '',
    '| Volume | Blocks | Fill (applyGroups) | Create ms min / median / p95 | Delete ms min / median / p95 |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...r.creation.volumes.map(
      (v) =>
        `| ${v.label} | ${v.blocks} | ${round(v.fillSeconds, 1)} s (${v.fillBlocksPerSecond} blocks/s) | ` +
        `${timing(v.createMs)} | ${timing(v.deleteMs)} |`,
    ),
    '',
  ]
}

function applySection(r: SnapshotBenchReport): string[] {
  const a = r.apply
  return [
    `## Apply throughput (${a.volumeBlocks} blocks, ${(a.volumeBlocks * 4096) / 2 ** 20} MiB, every block ` +
      `overwritten per pass, groups of ${a.groupBlocks} blocks)`,
    '',
    '| Pass | Kind | Blocks | Seconds | Blocks/s | Versions kept |',
    '| ---: | --- | ---: | ---: | ---: | ---: |',
    ...a.passes.map(
      (p, i) =>
        `| ${i + 1} | ${p.kind} | ${p.blocks} | ${round(p.seconds, 2)} | ${p.blocksPerSecond} | ${p.versionsKept} |`,
    ),
    '',
    `Medians: no snapshot ${a.noneBlocksPerSecond} blocks/s; one snapshot held ${a.heldBlocksPerSecond} ` +
      `(${a.heldRatio}×); a snapshot before every group ${a.everyGroupBlocksPerSecond} (${a.everyGroupRatio}×).`,
    '',
  ]
}

function recoverySection(r: SnapshotBenchReport): string[] {
  const rc = r.recovery
  return [
    `## Recovery to group ${rc.groups} (journal of ${rc.groups} groups of ${rc.groupBlocks} blocks on Kafka, ` +
      `${rc.volumes} volumes of ${rc.blocksPerVolume} blocks, snapshot at group ${rc.snapshotAtGroup})`,
    '',
    '| Run | Kind | Seconds | of which copying the snapshot | Groups applied | Blocks applied |',
    '| ---: | --- | ---: | ---: | ---: | ---: |',
    ...rc.runs.map((x, i) => {
      const seed = x.seedSeconds === undefined ? '' : round(x.seedSeconds, 2)
      return `| ${i + 1} | ${x.kind} | ${round(x.seconds, 2)} | ${seed} | ${x.groupsApplied} | ${x.blocksApplied} |`
    }),
    '',
    `Seconds min / median / p95: from group 1 ${timing(rc.fromGroup1Seconds)}; via the snapshot ` +
      `${timing(rc.viaSnapshotSeconds)} (${rc.ratio}× of from group 1).`,
    '',
  ]
}
