/**
 * `npm run bench -- --snapshots [--quick]`: the snapshot targets of issue 14,
 * on the local stack, each data set in its own PostgreSQL schema (and, for
 * recovery, its own session topics), all removed afterwards.
 *   (1) creation: a large (1 GiB) and a small (16 MiB) volume filled through
 *       the block store's applyGroups, then a snapshot created and deleted N
 *       times on each, alternating volumes, nothing else running;
 *   (2) apply throughput: passes overwriting every block of a volume (groups
 *       of 2,000 blocks, shuffled) with no snapshot and with one snapshot
 *       taken before the pass (so every block's first overwrite copies), in
 *       ABBA pairs; then one pass with a snapshot before every group;
 *   (3) recovery: a journal of G groups on Kafka, a live secondary applied by
 *       the applier with a snapshot at group G-k, then replay() to group G
 *       from group 1 and seeded from the snapshot (Snapshots.copyInto), ABBA.
 * Results: bench/results/snapshots.json and .md. A missed target is
 * reported, never an error.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import type { LoadOptions } from '../../lib/config.js'
import { silentLogger } from '../../lib/logger.js'
import { createPool, type Pool } from '../../lib/postgres.js'
import { createBenchSession } from '../benchSession.js'
import { describeMachine, headMachine, loadAverage } from '../machine.js'
import { ratio, round } from '../stats.js'
import { createBenchVolume, type BenchVolume } from './benchVolume.js'
import { measureRecovery, type RecoveryProfile } from './recoveryBench.js'
import {
  applyFigures,
  judgeTargets,
  pairOrder,
  renderSnapshotReport,
  summarize,
  type ApplyPass,
  type CreationFigures,
  type SnapshotBenchReport,
} from './snapshotReport.js'

export interface SnapshotProfile {
  name: 'quick' | 'full'
  creation: { largeBlocks: number; smallBlocks: number; groupBlocks: number; repeats: number }
  /** `everyGroup`: passes with a snapshot before every group, after the pairs. */
  apply: { volumeBlocks: number; groupBlocks: number; pairs: number; everyGroup: number }
  recovery: RecoveryProfile
}

export const SNAPSHOT_PROFILES: Record<'quick' | 'full', SnapshotProfile> = {
  full: {
    name: 'full',
    creation: { largeBlocks: 262_144, smallBlocks: 4096, groupBlocks: 2000, repeats: 40 },
    apply: { volumeBlocks: 65_536, groupBlocks: 2000, pairs: 3, everyGroup: 1 },
    recovery: { groups: 48, groupBlocks: 2000, blocksPerVolume: 8192, back: 6, pairs: 3 },
  },
  quick: {
    name: 'quick',
    creation: { largeBlocks: 262_144, smallBlocks: 4096, groupBlocks: 2000, repeats: 10 },
    apply: { volumeBlocks: 16_384, groupBlocks: 2000, pairs: 2, everyGroup: 1 },
    recovery: { groups: 12, groupBlocks: 1000, blocksPerVolume: 1024, back: 2, pairs: 2 },
  },
}

type Log = (message: string) => void

export async function runSnapshotBench(options: {
  load: LoadOptions
  profile: SnapshotProfile
  resultsDir: string
  log: Log
}): Promise<SnapshotBenchReport> {
  const { profile, log } = options
  const began = Date.now()
  const loadStart = loadAverage()
  const session = await createBenchSession({ load: options.load, blocksPerVolume: profile.recovery.blocksPerVolume })
  const pool = createPool({ url: session.config.database.url, logger: silentLogger, max: 6 })
  const base = session.config.applier.schema
  try {
    const machine = await describeMachine(session.config)
    log(`snapshots (${profile.name}): ${machine.cores} cores, load average ${loadStart}`)
    const creation = await measureCreation(pool, base, profile.creation, log)
    const apply = await measureApply(pool, base, profile.apply, log)
    const recovery = await measureRecovery({ session, pool, profile: profile.recovery, log })
    const partial: Omit<SnapshotBenchReport, 'targets'> = {
      generatedAt: new Date().toISOString(),
      profile: profile.name,
      command: `npm run bench -- --snapshots${profile.name === 'quick' ? ' --quick' : ''}`,
      durationSeconds: round((Date.now() - began) / 1000, 1),
      machine: headMachine(machine),
      load: { start: loadStart, end: loadAverage() },
      creation,
      apply,
      recovery,
    }
    const report: SnapshotBenchReport = { ...partial, targets: judgeTargets(partial) }
    await mkdir(options.resultsDir, { recursive: true })
    const stem = profile.name === 'quick' ? 'snapshots-quick' : 'snapshots'
    await writeFile(join(options.resultsDir, `${stem}.json`), `${JSON.stringify(report, null, 2)}\n`)
    await writeFile(join(options.resultsDir, `${stem}.md`), renderSnapshotReport(report))
    return report
  } finally {
    await pool.end()
    for (const p of await session.cleanup()) log(`cleanup: ${p}`)
  }
}

/** Fills `v` in block order; its seconds and blocks/s. */
async function fill(v: BenchVolume, groupBlocks: number): Promise<{ seconds: number; blocksPerSecond: number }> {
  const seconds = await v.writeAll(groupBlocks)
  return { seconds: round(seconds, 2), blocksPerSecond: Math.round(v.blocks / seconds) }
}

async function measureCreation(
  pool: Pool,
  base: string,
  p: SnapshotProfile['creation'],
  log: Log,
): Promise<SnapshotBenchReport['creation']> {
  const mib = (blocks: number): string => `${(blocks * 4096) / 2 ** 20} MiB`
  const volumes: BenchVolume[] = []
  try {
    const filled: { seconds: number; blocksPerSecond: number }[] = []
    for (const [suffix, blocks] of [
      ['large', p.largeBlocks],
      ['small', p.smallBlocks],
    ] as const) {
      const v = await createBenchVolume(pool, `${base}_${suffix}`, blocks)
      volumes.push(v)
      log(`creation: filling ${mib(blocks)} (${blocks} blocks) through applyGroups`)
      filled.push(await fill(v, p.groupBlocks))
      await v.vacuum()
    }
    const times = volumes.map(() => ({ create: [] as number[], delete: [] as number[] }))
    log(`creation: ${p.repeats} creates and deletes on each, alternating`)
    for (let i = 0; i < p.repeats; i++) {
      for (const k of pairOrder(i, 0, 1)) {
        const v = volumes[k] as BenchVolume
        const t0 = performance.now()
        await v.snapshots.create({ name: `c${i}` })
        const t1 = performance.now()
        await v.snapshots.delete(`c${i}`)
        times[k]?.create.push(t1 - t0)
        times[k]?.delete.push(performance.now() - t1)
      }
    }
    const figures: CreationFigures[] = volumes.map((v, k) => ({
      label: mib(v.blocks),
      blocks: v.blocks,
      fillSeconds: filled[k]?.seconds ?? NaN,
      fillBlocksPerSecond: filled[k]?.blocksPerSecond ?? NaN,
      createMs: summarize(times[k]?.create ?? []),
      deleteMs: summarize(times[k]?.delete ?? []),
    }))
    const medianRatio = round(ratio(figures[0]?.createMs.median ?? NaN, figures[1]?.createMs.median ?? NaN), 2)
    return { repeats: p.repeats, volumes: figures, medianRatio }
  } finally {
    for (const v of volumes) await v.drop()
  }
}

async function measureApply(
  pool: Pool,
  base: string,
  p: SnapshotProfile['apply'],
  log: Log,
): Promise<SnapshotBenchReport['apply']> {
  const v = await createBenchVolume(pool, `${base}_apply`, p.volumeBlocks)
  try {
    log(`apply: filling ${p.volumeBlocks} blocks`)
    await v.writeAll(p.groupBlocks)
    await v.vacuum()
    const passes: ApplyPass[] = []
    for (let i = 0; i < p.pairs; i++) {
      for (const kind of pairOrder(i, 'none', 'held') as ApplyPass['kind'][]) {
        passes.push(await overwritePass(v, kind, p.groupBlocks))
        log(`apply: pass ${passes.length} (${kind}): ${passes[passes.length - 1]?.blocksPerSecond} blocks/s`)
      }
    }
    for (let i = 0; i < p.everyGroup; i++) {
      passes.push(await overwritePass(v, 'every-group', p.groupBlocks))
      log(`apply: a snapshot before every group: ${passes[passes.length - 1]?.blocksPerSecond} blocks/s`)
    }
    return { volumeBlocks: p.volumeBlocks, groupBlocks: p.groupBlocks, passes, ...applyFigures(passes) }
  } finally {
    await v.drop()
  }
}

/**
 * One pass overwriting every block (shuffled). 'held': a snapshot taken
 * just before; 'every-group': one before each group (untimed: creation is
 * measured on its own). The snapshots are deleted and the tables vacuumed
 * afterwards, untimed, so every pass starts alike.
 */
async function overwritePass(v: BenchVolume, kind: ApplyPass['kind'], groupBlocks: number): Promise<ApplyPass> {
  if (kind === 'held') await v.snapshots.create({ name: 'held' })
  const before =
    kind === 'every-group' ? (g: number) => v.snapshots.create({ name: `g${g}` }).then(() => undefined) : undefined
  const seconds = await v.writeAll(groupBlocks, { shuffle: true, ...(before ? { before } : {}) })
  const versionsKept = await v.versions()
  for (const s of await v.snapshots.list()) await v.snapshots.delete(s.name)
  await v.vacuum()
  return {
    kind,
    blocks: v.blocks,
    seconds: round(seconds, 3),
    blocksPerSecond: Math.round(v.blocks / seconds),
    versionsKept,
  }
}
