/**
 * Observes the secondary the way a user restoring from it would: one
 * REPEATABLE READ snapshot that holds the last applied group's time and the
 * heads of every written block together. The checker then compares that
 * image with the workload's writes up to that time.
 */
import { storeTables } from '../applier/index.js'
import type { Pool } from '../lib/postgres.js'
import { HEAD_BYTES, decodeBlockHead, type BlockHead } from './blockContent.js'
import type { Observation } from './checker.js'
import { blockKey } from './writeLog.js'

export interface ObservedSecondary extends Observation {
  groupSeq: number
}

/** One consistent observation, or undefined before the first group is applied. */
export async function observeSecondary(
  pool: Pool,
  schema: string,
  session: string,
): Promise<ObservedSecondary | undefined> {
  const t = storeTables(schema)
  const client = await pool.connect()
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
    const ctl = await client.query<{ group_seq: bigint; group_time: bigint | null }>(
      `SELECT group_seq, group_time FROM ${t.control} WHERE session = $1`,
      [session],
    )
    const row = ctl.rows[0]
    if (!row || row.group_time === null) {
      await client.query('COMMIT')
      return undefined
    }
    const res = await client.query<{ name: string; block: bigint; head: Buffer }>(
      `SELECT v.name, b.block, substring(b.data FROM 1 FOR ${HEAD_BYTES}) AS head FROM ${t.blocks} b ` +
        `JOIN ${t.volumes} v ON v.id = b.volume_id`,
    )
    await client.query('COMMIT')
    const heads = new Map<string, BlockHead | undefined>()
    for (const r of res.rows) heads.set(blockKey(r.name, Number(r.block)), decodeBlockHead(r.head))
    return { groupSeq: Number(row.group_seq), groupTime: Number(row.group_time), heads }
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined)
    throw err
  } finally {
    client.release()
  }
}

/** Applied-group history: how many groups, and whether any was skipped or repeated. */
export async function appliedGroupHistory(
  pool: Pool,
  schema: string,
): Promise<{ groups: number; firstSeq: number; lastSeq: number; gaps: number; timeRegressions: number }> {
  const t = storeTables(schema)
  const res = await pool.query<{ group_seq: bigint; group_time: bigint }>(
    `SELECT group_seq, group_time FROM ${t.appliedGroups} ORDER BY group_seq`,
  )
  let gaps = 0
  let timeRegressions = 0
  let prev: { seq: number; time: number } | undefined
  for (const r of res.rows) {
    const cur = { seq: Number(r.group_seq), time: Number(r.group_time) }
    if (prev && cur.seq !== prev.seq + 1) gaps++
    if (prev && cur.time <= prev.time) timeRegressions++
    prev = cur
  }
  return {
    groups: res.rows.length,
    firstSeq: Number(res.rows[0]?.group_seq ?? 0),
    lastSeq: prev?.seq ?? 0,
    gaps,
    timeRegressions,
  }
}
