/**
 * Seeds the secondary of a new session with the image of another session's
 * secondary, inside PostgreSQL (no block leaves the server): the failover's
 * new session starts mirroring from the very image its primary's volumes
 * were made from, so its secondary is a whole image from its first group.
 *
 * The seeded rows carry group 0 (seq 0, time 0): older than any group of the
 * new session, which numbers its groups from 1; the control row stays at
 * group 0, so the new session's applier takes its group 1 on top. Rows are
 * read and written through the `blocks` view (the live rows of block_rows),
 * as the resync rollback does: a new store keeps no older versions yet.
 */
import { XrcError } from '../../lib/errors.js'
import type { Pool } from '../../lib/postgres.js'
import type { StoreTables } from './blockStoreDdl.js'
import { inTransaction } from './transaction.js'

/** What seedImage copied. */
export interface SeedResult {
  /** Block rows copied (blocks never written are absent in both, and read as zeros). */
  blocks: number
  /** Block rows of an earlier, identical seed replaced (a second run). */
  replaced: number
}

/**
 * Copies every block row of `from` into `into` (an init()ed store of
 * `session`, same volume names and sizes), volume by name, in one
 * transaction with `into`'s control row locked. Throws XRC_USAGE
 * (copyTargetNotEmpty) when the target applied a group: its image is its
 * own session's then, and a seed would overwrite it. A target that holds
 * blocks but no group (an earlier seed) is seeded again.
 */
export async function seedImage(
  pool: Pool,
  from: StoreTables,
  into: StoreTables,
  session: string,
): Promise<SeedResult> {
  return inTransaction(pool, async (client) => {
    const control = await client.query<{ group_seq: bigint }>(
      `SELECT group_seq FROM ${into.control} WHERE session = $1 FOR UPDATE`,
      [session],
    )
    const seq = control.rows[0]?.group_seq
    if (seq === undefined) throw new XrcError('XRC_NOT_FOUND', { reason: 'controlRow', schema: into.schema, session })
    if (seq !== 0n)
      throw new XrcError('XRC_USAGE', { reason: 'copyTargetNotEmpty', schema: into.schema, what: `group ${seq}` })
    const replaced = await client.query(`DELETE FROM ${into.blocks}`)
    await client.query(`DELETE FROM ${into.segmentCodes}`)
    const copied = await client.query(
      `INSERT INTO ${into.blocks} (volume_id, block, group_seq, group_time, data)
       SELECT nv.id, b.block, 0, 0, b.data FROM ${from.blocks} b
       JOIN ${from.volumes} ov ON ov.id = b.volume_id
       JOIN ${into.volumes} nv ON nv.name = ov.name`,
    )
    return { blocks: copied.rowCount ?? 0, replaced: replaced.rowCount ?? 0 }
  })
}
