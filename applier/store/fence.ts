/**
 * Fencing a secondary at failover (control.fenced_by, blockStoreDdl.ts):
 * once the secondary's image is what a new primary starts from, no group of
 * the old session may land on it. The fence is set in a transaction that
 * holds the control row FOR UPDATE, the lock every apply takes first, so an
 * apply in flight commits before it and every later apply reads it and
 * refuses (applyRules.ts checkNotFenced: XRC_FENCED). The image's group is
 * read in the same transaction: it is the T the new primary holds.
 */
import { XrcError } from '../../lib/errors.js'
import type { Pool } from '../../lib/postgres.js'
import { markOfControlRow, type ControlRow } from './applyRules.js'
import type { StoreTables } from './blockStoreDdl.js'
import { inTransaction } from './transaction.js'
import type { AppliedMark } from '../journal/index.js'

/** What fenceSecondary found and did. */
export interface FenceResult {
  /** The group the fenced image holds (undefined: none applied, an empty image). */
  asOf: AppliedMark | undefined
  /** The session the image was fenced for. */
  fencedBy: string
  /** When (ISO), the first time it was fenced. */
  fencedAt: string
  /** True when an earlier run had fenced it for the same session already (nothing changed). */
  already: boolean
}

/**
 * Fences the secondary of `session` for `by` (the session taking over).
 * Safe to run twice for the same `by`; throws XRC_FAILOVER_REFUSED
 * (fencedByOther) when another session took over, XRC_NOT_FOUND when the
 * store has no control row for `session`.
 */
export async function fenceSecondary(
  pool: Pool,
  tables: StoreTables,
  session: string,
  by: string,
): Promise<FenceResult> {
  return inTransaction(pool, async (client) => {
    const res = await client.query<ControlRow & { fenced_by: string | null; fenced_at: Date | null }>(
      `SELECT group_seq, group_time, journal_offset, fenced_by, fenced_at FROM ${tables.control}
       WHERE session = $1 FOR UPDATE`,
      [session],
    )
    const row = res.rows[0]
    if (row === undefined)
      throw new XrcError('XRC_NOT_FOUND', { reason: 'noSecondary', session, schema: tables.schema })
    if (row.fenced_by !== null && row.fenced_by !== by)
      throw new XrcError('XRC_FAILOVER_REFUSED', {
        reason: 'fencedByOther',
        session,
        fencedBy: row.fenced_by,
        newSession: by,
      })
    const already = row.fenced_by === by
    let fencedAt = row.fenced_at
    if (!already) {
      const set = await client.query<{ fenced_at: Date }>(
        `UPDATE ${tables.control} SET fenced_by = $2, fenced_at = now() WHERE session = $1 RETURNING fenced_at`,
        [session, by],
      )
      fencedAt = set.rows[0]?.fenced_at ?? null
    }
    return {
      asOf: markOfControlRow(row),
      fencedBy: by,
      fencedAt: (fencedAt ?? new Date()).toISOString(),
      already,
    }
  })
}

/** The session the secondary of `session` was fenced for, or undefined. */
export async function readFence(pool: Pool, tables: StoreTables, session: string): Promise<string | undefined> {
  const res = await pool.query<{ fenced_by: string | null }>(
    `SELECT fenced_by FROM ${tables.control} WHERE session = $1`,
    [session],
  )
  return res.rows[0]?.fenced_by ?? undefined
}
