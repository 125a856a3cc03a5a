/**
 * What the secondary says about itself: the control row of its PostgreSQL
 * schema names the last applied group (seq, consistency time, journal
 * offset, when it was applied); its snapshots, counted with the space their
 * kept versions take (Snapshots.space, no per-snapshot join); whether a
 * failover fenced it (applier/store/fence.ts).
 */
import { createSnapshots, storeTables, type SnapshotSpace } from '../../applier/index.js'
import { isXrcError } from '../../lib/errors.js'
import type { Pool } from '../../lib/postgres.js'

export interface SecondaryView {
  schema: string
  /** False when the schema has no block store (no applier has run with it). */
  exists: boolean
  lastApplied?: { seq: number; time: number; journalOffset: number; appliedAt: string | undefined }
  /** Undefined for a store made before snapshots existed (no snapshot tables yet). */
  snapshots?: SnapshotSpace
  /** Set once `xrc failover` fenced this secondary: the session that took over, and when. */
  fenced?: { by: string; at: string | undefined }
}

export async function secondaryView(pool: Pool, schema: string, session: string): Promise<SecondaryView> {
  const t = storeTables(schema)
  const exists = await pool.query<{ r: string | null }>('SELECT to_regclass($1)::text AS r', [t.control])
  if (!exists.rows[0]?.r) return { schema, exists: false }
  const res = await pool.query<{
    group_seq: bigint
    group_time: bigint | null
    journal_offset: bigint | null
    applied_at: Date | null
  }>(`SELECT group_seq, group_time, journal_offset, applied_at FROM ${t.control} WHERE session = $1`, [session])
  const row = res.rows[0]
  const snapshots = await createSnapshots({ pool, schema, session })
    .space()
    .catch((err: unknown) => {
      if (isXrcError(err, 'XRC_NOT_FOUND')) return undefined
      throw err
    })
  // to_jsonb: a store no applier of this version has opened yet has no fence columns
  const fence = await pool.query<{ by: string | null; at: string | null }>(
    `SELECT to_jsonb(c) ->> 'fenced_by' AS by, to_jsonb(c) ->> 'fenced_at' AS at FROM ${t.control} c
     WHERE session = $1`,
    [session],
  )
  const by = fence.rows[0]?.by ?? null
  const held = {
    ...(snapshots === undefined ? {} : { snapshots }),
    ...(by === null ? {} : { fenced: { by, at: fence.rows[0]?.at ?? undefined } }),
  }
  if (!row || row.group_time === null || row.journal_offset === null) return { schema, exists: true, ...held }
  return {
    schema,
    exists: true,
    ...held,
    lastApplied: {
      seq: Number(row.group_seq),
      time: Number(row.group_time),
      journalOffset: Number(row.journal_offset),
      appliedAt: row.applied_at?.toISOString(),
    },
  }
}
