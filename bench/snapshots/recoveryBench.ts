/**
 * Recovery to a group, timed (snapshotBench.ts phase 3): a journal of G
 * groups on Kafka (benchJournal.ts), a live secondary kept by the applier
 * with a snapshot at group G-k, then xrc replay's own function, replay(),
 * to group G into a fresh schema: from group 1, and seeded from the
 * snapshot (Snapshots.copyInto, as `xrc replay --to-group` plans it),
 * alternating. Each replay's whole call is timed (the applier's start,
 * the copy, the reads from Kafka, the applies), and its schema dropped.
 */
import { performance } from 'node:perf_hooks'
import { createApplier, createSnapshots, replay, type Snapshots } from '../../applier/index.js'
import { silentLogger } from '../../lib/logger.js'
import { ident, type Pool } from '../../lib/postgres.js'
import type { BenchSession } from '../benchSession.js'
import { ratio, round } from '../stats.js'
import { writeBenchJournal } from './benchJournal.js'
import { pairOrder, summarize, type RecoveryRun, type SnapshotBenchReport } from './snapshotReport.js'

export interface RecoveryProfile {
  /** G: groups in the journal, and the group recovered to. */
  groups: number
  groupBlocks: number
  /** Blocks of each of the session's 8 volumes. */
  blocksPerVolume: number
  /** k: the snapshot is at group G-k. */
  back: number
  /** ABBA pairs of the two recoveries. */
  pairs: number
}

export async function measureRecovery(options: {
  session: BenchSession
  pool: Pool
  profile: RecoveryProfile
  log: (m: string) => void
}): Promise<SnapshotBenchReport['recovery']> {
  const { session, profile: p, log } = options
  const { config, kafka } = session
  const at = p.groups - p.back
  log(`recovery: writing a journal of ${p.groups} groups of ${p.groupBlocks} blocks to Kafka`)
  await writeBenchJournal({ config, kafka, groups: p.groups, groupBlocks: p.groupBlocks })
  const snapshots = await liveSecondary(options, at)
  const runs: RecoveryRun[] = []
  for (let i = 0; i < p.pairs; i++) {
    for (const kind of pairOrder<RecoveryRun['kind']>(i, 'from-group-1', 'via-snapshot')) {
      runs.push(await recoverOnce(options, kind, `${config.applier.schema}_r${runs.length}`, snapshots))
      const r = runs[runs.length - 1] as RecoveryRun
      log(`recovery: ${kind}: ${round(r.seconds, 2)} s, ${r.groupsApplied} groups applied`)
    }
  }
  const from1 = summarize(runs.filter((r) => r.kind === 'from-group-1').map((r) => r.seconds))
  const via = summarize(runs.filter((r) => r.kind === 'via-snapshot').map((r) => r.seconds))
  const volumes = config.session.controllers.reduce((n, c) => n + c.volumes.length, 0)
  return {
    groups: p.groups,
    groupBlocks: p.groupBlocks,
    volumes,
    blocksPerVolume: p.blocksPerVolume,
    snapshotAtGroup: at,
    runs,
    fromGroup1Seconds: from1,
    viaSnapshotSeconds: via,
    ratio: round(ratio(via.median, from1.median), 2),
  }
}

/** The session's secondary applied to group `at`, a snapshot 'base' there, then applied to the journal's end. */
async function liveSecondary(options: Parameters<typeof measureRecovery>[0], at: number): Promise<Snapshots> {
  const { session, pool, log } = options
  const common = { config: session.config, logger: silentLogger, kafka: session.kafka, pool, publishApplied: false }
  log(`recovery: the live secondary to group ${at}, a snapshot there, then on to the end`)
  const upTo = createApplier({ ...common, stopAtGroup: at })
  try {
    await upTo.start()
    await upTo.done
  } finally {
    await upTo.stop()
  }
  const snapshots = createSnapshots({
    pool,
    schema: session.config.applier.schema,
    session: session.config.session.name,
  })
  await snapshots.create({ name: 'base' })
  const rest = createApplier(common)
  try {
    await rest.start()
    if (!(await rest.waitCaughtUp({ timeoutMs: 600_000 }))) throw new Error('the live secondary did not catch up')
  } finally {
    await rest.stop()
  }
  return snapshots
}

async function recoverOnce(
  options: Parameters<typeof measureRecovery>[0],
  kind: RecoveryRun['kind'],
  schema: string,
  snapshots: Snapshots,
): Promise<RecoveryRun> {
  const { session, pool, profile } = options
  let seedMs: number | undefined
  const copy = async (s: string): Promise<void> => {
    const t0 = performance.now()
    await snapshots.copyInto('base', s)
    seedMs = performance.now() - t0
  }
  const seed = kind === 'via-snapshot' ? { seed: copy } : {}
  try {
    const t0 = performance.now()
    const summary = await replay({
      config: session.config,
      logger: silentLogger,
      kafka: session.kafka,
      pool,
      schema,
      stopAtGroup: profile.groups,
      ...seed,
    })
    const seconds = (performance.now() - t0) / 1000
    if (summary.lastGroupSeq !== profile.groups)
      throw new Error(`replay (${kind}) ended at group ${summary.lastGroupSeq}, not ${profile.groups}`)
    const run: RecoveryRun = {
      kind,
      seconds: round(seconds, 3),
      groupsApplied: summary.groups,
      blocksApplied: summary.blocks,
    }
    return seedMs === undefined ? run : { ...run, seedSeconds: round(seedMs / 1000, 3) }
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS ${ident(schema)} CASCADE`)
  }
}
