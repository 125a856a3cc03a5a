/**
 * The statements of snapshots (tables: blockStoreDdl.ts; rules:
 * snapshotRules.ts), by what they do. Parameters are listed with each.
 */
import type { ResyncTables } from '../resync/index.js'
import type { StoreTables } from './blockStoreDdl.js'

/**
 * Copy on write in one statement: $1 volume ids, $2 blocks (the rows a
 * group replaces), $3 the newest pin's time, $4 the replacing group's time.
 * The replaced rows a snapshot still sees (group_time <= $3) are kept, marked
 * superseded at $4 (their data stays where it is); the others are deleted.
 * The two sets are disjoint, so one statement does both.
 */
export function copyOnWriteDeleteSql(t: StoreTables): string {
  return `WITH keys AS (
      SELECT * FROM unnest($1::int[], $2::bigint[]) AS k(volume_id, block)
    ), kept AS (
      UPDATE ${t.blockRows} b SET superseded_time = $4 FROM keys k
      WHERE b.volume_id = k.volume_id AND b.block = k.block AND b.superseded_time IS NULL AND b.group_time <= $3
      RETURNING 1
    )
    DELETE FROM ${t.blockRows} b USING keys k
    WHERE b.volume_id = k.volume_id AND b.block = k.block AND b.superseded_time IS NULL AND b.group_time > $3`
}

/** $1 session: the control row's snapshot summary (newest pin, pending count) set from the snapshots table. */
export function refreshSummarySql(t: StoreTables): string {
  return `UPDATE ${t.control} SET
      snapshot_pin_time = (SELECT max(group_time) FROM ${t.snapshots} WHERE state = 'active'),
      snapshots_pending = (SELECT count(*) FROM ${t.snapshots} WHERE state = 'pending')
    WHERE session = $1`
}

/**
 * The space snapshots take, cheaply (no per-snapshot join, unlike
 * listSnapshotsSql): active and pending counts, and the kept versions with
 * their stored bytes; one row (active, pending, versions, bytes).
 */
export function snapshotSpaceSql(t: StoreTables): string {
  return `SELECT
      (SELECT count(*) FROM ${t.snapshots} WHERE state = 'active') AS active,
      (SELECT count(*) FROM ${t.snapshots} WHERE state = 'pending') AS pending,
      v.versions, v.bytes
    FROM (SELECT count(*) AS versions, coalesce(sum(pg_column_size(data)), 0)::bigint AS bytes
      FROM ${t.snapshotVersions}) v`
}

/** The pending snapshots' targets (columns id, name, at_group, at_time). */
export function pendingSnapshotsSql(t: StoreTables): string {
  return `SELECT id, name, at_group, at_time FROM ${t.snapshots} WHERE state = 'pending' ORDER BY id`
}

/** $1 ids, $2 group seq, $3 group time, $4 journal offset: pending snapshots pin that group. */
export function activateSnapshotsSql(t: StoreTables): string {
  return `UPDATE ${t.snapshots} SET state = 'active', group_seq = $2, group_time = $3, journal_offset = $4,
      activated_at = now()
    WHERE id = ANY($1::bigint[]) AND state = 'pending'`
}

/** $1 name, $2 state, $3..$5 the pinned group (seq, time, offset) or nulls, $6 at_group, $7 at_time. */
export function insertSnapshotSql(t: StoreTables): string {
  return `INSERT INTO ${t.snapshots} (name, state, group_seq, group_time, journal_offset, at_group, at_time,
      activated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $2 = 'active' THEN now() END)
    ON CONFLICT (name) DO NOTHING
    RETURNING id, created_at, activated_at`
}

/** The columns a snapshot row is read with (SnapshotRow). */
export const SNAPSHOT_COLUMNS = `s.id, s.name, s.state, s.group_seq, s.group_time, s.journal_offset, s.at_group,
  s.at_time, s.created_at, s.activated_at`

/** $1 name: one snapshot (SnapshotRow); FOR SHARE when `lock` (a delete waits until the caller commits). */
export function snapshotByNameSql(t: StoreTables, lock = false): string {
  return `SELECT ${SNAPSHOT_COLUMNS} FROM ${t.snapshots} s WHERE s.name = $1${lock ? ' FOR SHARE' : ''}`
}

/**
 * Every snapshot with what it holds: versions (and their stored bytes) it
 * sees, and of those the ones it alone sees (what deleting it frees).
 */
export function listSnapshotsSql(t: StoreTables): string {
  return `WITH pins AS (SELECT id, group_time AS pin FROM ${t.snapshots} WHERE state = 'active'),
    seen AS (
      SELECT p.id, pg_column_size(v.data)::bigint AS bytes,
        (SELECT count(*) FROM pins q WHERE q.pin >= v.group_time AND q.pin < v.superseded_time) AS sharers
      FROM pins p JOIN ${t.snapshotVersions} v ON v.group_time <= p.pin AND p.pin < v.superseded_time
    ),
    held AS (
      SELECT id, count(*) AS versions, sum(bytes) AS bytes,
        count(*) FILTER (WHERE sharers = 1) AS own_versions, sum(bytes) FILTER (WHERE sharers = 1) AS own_bytes
      FROM seen GROUP BY id
    )
    SELECT ${SNAPSHOT_COLUMNS}, coalesce(h.versions, 0) AS versions, coalesce(h.bytes, 0) AS bytes,
      coalesce(h.own_versions, 0) AS own_versions, coalesce(h.own_bytes, 0) AS own_bytes
    FROM ${t.snapshots} s LEFT JOIN held h ON h.id = s.id
    ORDER BY s.state, s.group_time, s.id`
}

/**
 * $1 snapshot id, $2 its pin time: deletes the versions it sees that no
 * other active snapshot sees (snapshotRules.versionsFreedByDelete); one row:
 * versions, bytes (stored) freed.
 */
export function freeVersionsSql(t: StoreTables): string {
  return `WITH freed AS (
      DELETE FROM ${t.snapshotVersions} v
      WHERE v.group_time <= $2 AND v.superseded_time > $2
        AND NOT EXISTS (
          SELECT 1 FROM ${t.snapshots} o WHERE o.state = 'active' AND o.id <> $1
            AND o.group_time >= v.group_time AND o.group_time < v.superseded_time)
      RETURNING pg_column_size(v.data)::bigint AS bytes
    )
    SELECT count(*) AS versions, coalesce(sum(bytes), 0) AS bytes FROM freed`
}

/**
 * The rows of volume `volumeId` as of the group pinned at `pinTime`, for a
 * COPY (which takes no parameters: both are integers): the current rows
 * written at or before it, and the kept versions it sees. A block has at
 * most one of either; `live` (pinTime undefined) reads the current rows.
 */
export function imageRowsSql(t: StoreTables, volumeId: number, pinTime: number | undefined): string {
  const v = Math.trunc(volumeId)
  if (pinTime === undefined) return `SELECT block, group_time, data FROM ${t.blocks} WHERE volume_id = ${v}`
  const p = Math.trunc(pinTime)
  return `SELECT block, group_time, data FROM ${t.blocks} WHERE volume_id = ${v} AND group_time <= ${p}
    UNION ALL
    SELECT block, group_time, data FROM ${t.snapshotVersions}
    WHERE volume_id = ${v} AND group_time <= ${p} AND superseded_time > ${p}`
}

/**
 * The blocks of one volume whose contents differ between two images
 * (imageRowsSql each), a block with no row reading as $1 (zeros): compared
 * by version first, by data only where the versions differ.
 */
export function changedBlocksSql(a: string, b: string): string {
  return `SELECT coalesce(a.block, b.block) AS block
    FROM (${a}) a FULL JOIN (${b}) b ON a.block = b.block
    WHERE a.group_time IS DISTINCT FROM b.group_time AND coalesce(a.data, $1) <> coalesce(b.data, $1)
    ORDER BY 1`
}

/**
 * $1 the last consistent group's time (null: none, the empty image): a
 * resync rollback back to it drops the versions that rolled-back groups
 * superseded. The version each of them kept is back in blocks (the
 * rollback restored the blocks as of that group), and no snapshot pins a
 * group after it (none is taken while the image is inconsistent).
 */
export function dropRolledBackVersionsSql(t: StoreTables): string {
  return `DELETE FROM ${t.snapshotVersions} WHERE $1::bigint IS NULL OR superseded_time > $1`
}

/** $1 session: the image's state and the group it falls back on (columns state, seq, time); no row: consistent. */
export function imageStateSql(resync: Pick<ResyncTables, 'image'>): string {
  return `SELECT state, consistent_group_seq AS seq, consistent_group_time AS time FROM ${resync.image}
    WHERE session = $1`
}
