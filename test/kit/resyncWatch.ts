/**
 * Watching a secondary through suspend and resync: every observation reads,
 * in one REPEATABLE READ snapshot, the last applied group, the image state
 * (applier/resync/resyncImage.ts) and the heads of every block. Observations the
 * secondary calls consistent are checked against the workload's writes
 * (workload/checker.ts): a single mixed one fails the test. Those it calls
 * inconsistent (a resync being applied) are counted, not checked: that is
 * the promise the image state makes.
 */
import { storeTables } from '../../applier/index.js'
import { resyncTables } from '../../applier/index.js'
import type { Config } from '../../lib/config.js'
import type { Pool } from '../../lib/postgres.js'
import { decodeBlockHead, encodeBlock, HEAD_BYTES, type BlockHead } from '../../workload/blockContent.js'
import { checkObservation, type Violation } from '../../workload/checker.js'
import type { WriteTarget } from '../../workload/dependentWrites.js'
import { blockKey, type WriteLog } from '../../workload/writeLog.js'
import { workloadVolumes } from './session.js'

export interface ImageObservation {
  groupSeq: number
  groupTime: number
  image: 'consistent' | 'inconsistent' | 'rolled-back'
  heads: Map<string, BlockHead | undefined>
}

/** One snapshot of the secondary, or undefined before its first group. */
export async function observeImage(pool: Pool, schema: string, session: string): Promise<ImageObservation | undefined> {
  const t = storeTables(schema)
  const r = resyncTables(schema)
  const client = await pool.connect()
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
    const ctl = await client.query<{ group_seq: bigint; group_time: bigint | null; image: string | null }>(
      `SELECT c.group_seq, c.group_time, (SELECT state FROM ${r.image} i WHERE i.session = c.session) AS image FROM ${t.control} c WHERE c.session = $1`,
      [session],
    )
    const row = ctl.rows[0]
    if (!row || row.group_time === null) {
      await client.query('COMMIT')
      return undefined
    }
    const res = await client.query<{ name: string; block: bigint; head: Buffer }>(
      `SELECT v.name, b.block, substring(b.data FROM 1 FOR ${HEAD_BYTES}) AS head FROM ${t.blocks} b JOIN ${t.volumes} v ON v.id = b.volume_id`,
    )
    await client.query('COMMIT')
    const heads = new Map<string, BlockHead | undefined>()
    for (const b of res.rows) heads.set(blockKey(b.name, Number(b.block)), decodeBlockHead(b.head))
    return {
      groupSeq: Number(row.group_seq),
      groupTime: Number(row.group_time),
      image: (row.image ?? 'consistent') as ImageObservation['image'],
      heads,
    }
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined)
    throw err
  } finally {
    client.release()
  }
}

export interface ResyncWatchReport {
  /** Observations of distinct groups, by image state. */
  consistent: number
  inconsistent: number
  /** Consistent observations that were not exactly the primary's writes up to their time. */
  mixed: number
  samples: Violation[]
  /** Where the first mixed observation was: its group and time. */
  firstMixed?: { groupSeq: number; groupTime: number }
  readErrors: number
}

/** Observes the secondary at every new group until stop(). */
export function watchResync(options: { pool: Pool; schema: string; session: string; log: WriteLog }): {
  stop: () => Promise<ResyncWatchReport>
  report: () => Readonly<ResyncWatchReport>
} {
  const report: ResyncWatchReport = { consistent: 0, inconsistent: 0, mixed: 0, samples: [], readErrors: 0 }
  let last = -1
  let stopped = false
  async function check(): Promise<void> {
    let obs: ImageObservation | undefined
    try {
      obs = await observeImage(options.pool, options.schema, options.session)
    } catch {
      report.readErrors++
      return
    }
    if (obs === undefined || obs.groupSeq === last) return
    last = obs.groupSeq
    if (obs.image !== 'consistent') {
      report.inconsistent++
      return
    }
    report.consistent++
    const violations = checkObservation(options.log, obs)
    if (violations.length > 0) {
      report.firstMixed ??= { groupSeq: obs.groupSeq, groupTime: obs.groupTime }
      report.mixed++
      if (report.samples.length < 5) report.samples.push(...violations.slice(0, 5 - report.samples.length))
    }
  }
  const loop = (async () => {
    while (!stopped) {
      await check()
      await new Promise((r) => setTimeout(r, 25))
    }
  })()
  return {
    report: () => report,
    async stop() {
      stopped = true
      await loop
      await check()
      return report
    },
  }
}

/** The p-th percentile (0..100) of `values`; 0 for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number
}

/**
 * Writes blocks `first` up to `end` (the volume's end by default) of every
 * volume of the session (`config`) once through `target`, each logged in
 * `log` so the checker knows it. Written while suspended past a workload's hot set, they are marks only
 * the resync clears: the hot set's own marks are cleared by the workload's
 * next writes within seconds of the resume, and a resync of those alone can
 * end before a test looks.
 */
export async function writeColdBlocks(options: {
  target: WriteTarget
  log: WriteLog
  config: Config
  first: number
  end?: number
}): Promise<void> {
  const { target, log, config } = options
  for (const v of workloadVolumes(config))
    for (let block = options.first; block < Math.min(options.end ?? v.blocks, v.blocks); block++) {
      const rec = log.begin(v.name, block)
      const data = encodeBlock(config.session.blockSize, rec.id, rec.dependsOn)
      log.ack(rec.id, (await target.write({ volume: v.name, block, data })).time)
    }
}
