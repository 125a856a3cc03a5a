/**
 * The statements of the block store (tables: blockStoreDdl.ts), by what they
 * do. Parameters are listed with each.
 */
import { BLOCK_ROW_COLUMNS } from './copyBinary.js'
import { invalidateSegmentsSql } from '../codes/codesSql.js'
import type { StoreTables } from './blockStoreDdl.js'

/**
 * $1 session (or `session`, an SQL literal: lib/postgres.ts sqlLiteral, for a
 * statement sent without parameters); FOR UPDATE when `lock` (an apply
 * serializes on it), and then with the snapshot summary the apply needs
 * (newest pin, pending count) and the fence (fence.ts): read in the same
 * statement as the lock, so it is the row's newest version (see
 * blockStoreDdl.ts).
 */
export function readControlSql(t: StoreTables, lock: boolean, session = '$1'): string {
  const locked = ', snapshot_pin_time, snapshots_pending, fenced_by'
  const columns = `group_seq, group_time, journal_offset${lock ? locked : ''}`
  return `SELECT ${columns} FROM ${t.control} WHERE session = ${session}${lock ? ' FOR UPDATE' : ''}`
}

/** $1 session, $2 journal partition: the control row of a store that applied nothing yet. */
export function insertControlSql(t: StoreTables): string {
  return `INSERT INTO ${t.control} (session, journal_partition) VALUES ($1, $2) ON CONFLICT (session) DO NOTHING`
}

/** $1 names, $2 sizes in blocks, $3 block size: registers volumes the store does not hold yet. */
export function insertVolumesSql(t: StoreTables): string {
  return `INSERT INTO ${t.volumes} (name, blocks, block_size)
    SELECT name, blocks, $3 FROM unnest($1::text[], $2::bigint[]) AS v(name, blocks)
    ON CONFLICT (name) DO NOTHING`
}

/** $1 volume ids, $2 blocks: the live rows a group replaces (COPY then writes them anew). */
export function deleteBlocksSql(t: StoreTables): string {
  return `DELETE FROM ${t.blockRows} b USING unnest($1::int[], $2::bigint[]) AS k(volume_id, block)
    WHERE b.volume_id = k.volume_id AND b.block = k.block AND b.superseded_time IS NULL`
}

/** The COPY a group's block rows go in by (copyBinary.ts encodes them). */
export function copyBlocksSql(t: StoreTables): string {
  return `COPY ${t.blockRows} (${BLOCK_ROW_COLUMNS.join(', ')}) FROM STDIN (FORMAT binary)`
}

/**
 * $1 session, $2 journal partition, $3 group seqs, $4 group times, $5 journal offsets, $6 updates (one element
 * per group, in order), $7 volume ids, $8 segments (the segments the groups wrote, once each): the control row
 * advanced to the last group, one history row per group and the written segments' codes invalidated
 * (codesSql.ts invalidateSegmentsSql), in one statement (one round trip); it inserts the history rows exactly
 * when the session's control row exists.
 */
export function recordGroupsSql(t: StoreTables): string {
  return `WITH codes AS (${invalidateSegmentsSql(t, '$7', '$8')}
    ), h AS (
      SELECT * FROM unnest($3::bigint[], $4::bigint[], $5::bigint[], $6::int[])
        WITH ORDINALITY AS h(group_seq, group_time, journal_offset, updates, n)
    ), control AS (
      UPDATE ${t.control} c SET group_seq = h.group_seq, group_time = h.group_time, journal_partition = $2,
        journal_offset = h.journal_offset, applied_at = now()
      FROM (SELECT * FROM h ORDER BY n DESC LIMIT 1) h
      WHERE c.session = $1
      RETURNING 1
    )
    INSERT INTO ${t.appliedGroups} (group_seq, group_time, journal_partition, journal_offset, updates)
    SELECT h.group_seq, h.group_time, $2, h.journal_offset, h.updates FROM h, control ORDER BY h.n`
}

/** Whether the server offers lz4 for TOAST compression (column `has`). */
export const SERVER_HAS_LZ4_SQL = `SELECT coalesce('lz4' = ANY(enumvals), false) AS has
  FROM pg_settings WHERE name = 'default_toast_compression'`

/** $1 the block rows table: how its data column is stored now (columns `storage`, `compression`). */
export const DATA_COLUMN_STORAGE_SQL = `SELECT attstorage AS storage, attcompression AS compression
  FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'data'`
