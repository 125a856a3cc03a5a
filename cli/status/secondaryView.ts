/**
 * What the secondary says about itself: the control row of its PostgreSQL
 * schema names the last applied group (seq, consistency time, journal
 * offset, when it was applied).
 */
import { storeTables } from '../../applier/index.js'
import type { Pool } from '../../lib/postgres.js'

export interface SecondaryView {
  schema: string
  /** False when the schema has no block store (no applier has run with it). */
  exists: boolean
  lastApplied?: { seq: number; time: number; journalOffset: number; appliedAt: string | undefined }
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
  if (!row || row.group_time === null || row.journal_offset === null) return { schema, exists: true }
  return {
    schema,
    exists: true,
    lastApplied: {
      seq: Number(row.group_seq),
      time: Number(row.group_time),
      journalOffset: Number(row.journal_offset),
      appliedAt: row.applied_at?.toISOString(),
    },
  }
}
