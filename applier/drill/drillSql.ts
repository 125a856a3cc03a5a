/**
 * The tables and statements of drills, in the secondary's schema beside
 * its store (blockStoreDdl.ts), made by the first drill (ensureDrillTables
 * in drills.ts), not by the applier: an applier never reads them.
 *
 *   drills         the session's drill, at most one (key: session): its
 *                  name, its own snapshot (drillRules.drillSnapshotName)
 *                  and the group that snapshot pins, where the pin came
 *                  from ('newest', or the snapshot whose pin it took),
 *                  phase running | stopping, and what a stop recorded.
 *   drill_blocks   the overlay: every block the drill wrote, whole, by
 *                  (drill id, volume id, block); data null = zeros. Reads
 *                  take it over the snapshot's block; the secondary's
 *                  blocks are never written.
 *   drill_history  one row per drill stopped: when it ran, its group,
 *                  what the operator checked, the blocks it wrote.
 *   drill_ids      the sequence of drill ids.
 *
 * No foreign key to the store's tables: a key would lock volumes and
 * snapshots against the applier on every overlay write.
 */
import { ident } from '../../lib/postgres.js'

export interface DrillTables {
  drills: string
  drillBlocks: string
  drillHistory: string
  drillIds: string
}

export function drillTables(schema: string): DrillTables {
  const s = ident(schema)
  return {
    drills: `${s}.drills`,
    drillBlocks: `${s}.drill_blocks`,
    drillHistory: `${s}.drill_history`,
    drillIds: `${s}.drill_ids`,
  }
}

/** The DDL, in order; each statement idempotent (run under an advisory lock: concurrent CREATEs collide). */
export function drillDdl(t: DrillTables): string[] {
  return [
    `CREATE SEQUENCE IF NOT EXISTS ${t.drillIds}`,
    `CREATE TABLE IF NOT EXISTS ${t.drills} (
      session text PRIMARY KEY,
      id bigint NOT NULL UNIQUE,
      name text NOT NULL,
      snapshot text NOT NULL,
      group_seq bigint NOT NULL,
      group_time bigint NOT NULL,
      journal_offset bigint NOT NULL,
      source text NOT NULL,
      phase text NOT NULL CHECK (phase IN ('running', 'stopping')),
      started_at timestamptz NOT NULL DEFAULT now(),
      stop_began_at timestamptz,
      checked text,
      blocks_written bigint
    )`,
    `CREATE TABLE IF NOT EXISTS ${t.drillBlocks} (
      drill_id bigint NOT NULL,
      volume_id int NOT NULL,
      block bigint NOT NULL,
      data bytea,
      PRIMARY KEY (drill_id, volume_id, block)
    )`,
    `CREATE TABLE IF NOT EXISTS ${t.drillHistory} (
      id bigint PRIMARY KEY,
      session text NOT NULL,
      name text NOT NULL,
      snapshot text NOT NULL,
      group_seq bigint NOT NULL,
      group_time bigint NOT NULL,
      source text NOT NULL,
      started_at timestamptz NOT NULL,
      stopped_at timestamptz NOT NULL DEFAULT now(),
      checked text,
      blocks_written bigint NOT NULL,
      bytes_written bigint NOT NULL
    )`,
  ]
}

/** The columns a drill row is read with (DrillRow). */
export const DRILL_COLUMNS = `id, name, snapshot, group_seq, group_time, journal_offset, source, phase, started_at,
  stop_began_at, checked, blocks_written`

/** $1 session: the session's drill (DrillRow); FOR UPDATE when `lock`. */
export function drillOfSessionSql(t: DrillTables, lock = false): string {
  return `SELECT ${DRILL_COLUMNS} FROM ${t.drills} WHERE session = $1${lock ? ' FOR UPDATE' : ''}`
}

/** $1 session: the drill's id and phase (what its server watches). */
export function drillPhaseSql(t: DrillTables): string {
  return `SELECT id, phase FROM ${t.drills} WHERE session = $1`
}

/** $1 session, $2 name, $3 snapshot, $4..$6 group seq, time, offset, $7 source: a running drill (DrillRow). */
export function insertDrillSql(t: DrillTables): string {
  return `INSERT INTO ${t.drills} (session, id, name, snapshot, group_seq, group_time, journal_offset, source, phase)
    VALUES ($1, nextval('${t.drillIds.replaceAll("'", "''")}'), $2, $3, $4, $5, $6, $7, 'running')
    RETURNING ${DRILL_COLUMNS}`
}

/** $1 session, $2 checked: the drill is being stopped (its first stop records when and what was checked). */
export function markStoppingSql(t: DrillTables): string {
  return `UPDATE ${t.drills} SET phase = 'stopping', stop_began_at = coalesce(stop_began_at, now()),
      checked = coalesce($2, checked)
    WHERE session = $1 RETURNING ${DRILL_COLUMNS}`
}

/**
 * $1 drill id, $2 volume id, $3 blocks, $4 data (null = zeros): the overlay
 * takes the blocks (the last write wins), only while the drill runs; the
 * count of rows written (0: the drill is no longer running).
 */
export function writeOverlaySql(t: DrillTables): string {
  return `INSERT INTO ${t.drillBlocks} (drill_id, volume_id, block, data)
    SELECT $1, $2, k.block, k.data FROM unnest($3::bigint[], $4::bytea[]) AS k(block, data)
    WHERE EXISTS (SELECT 1 FROM ${t.drills} WHERE id = $1 AND phase = 'running')
    ON CONFLICT (drill_id, volume_id, block) DO UPDATE SET data = excluded.data`
}

/** $1 drill id, $2 volume id, $3 first block, $4 end block (excluded): the overlay rows of the range. */
export function readOverlaySql(t: DrillTables): string {
  return `SELECT block, data FROM ${t.drillBlocks}
    WHERE drill_id = $1 AND volume_id = $2 AND block >= $3 AND block < $4`
}

/** $1 drill id: blocks in the overlay. */
export function countOverlaySql(t: DrillTables): string {
  return `SELECT count(*) AS n FROM ${t.drillBlocks} WHERE drill_id = $1`
}

/** $1 drill id, $2 blocks in its overlay: kept as the blocks it wrote, unless a stop cut short kept them first. */
export function keepBlocksWrittenSql(t: DrillTables): string {
  return `UPDATE ${t.drills} SET blocks_written = coalesce(blocks_written, $2) WHERE id = $1`
}

/** $1 drill id, $2 batch size: deletes up to $2 overlay rows (a large overlay goes in batches, with progress). */
export function discardOverlayBatchSql(t: DrillTables): string {
  return `DELETE FROM ${t.drillBlocks} WHERE ctid IN (SELECT ctid FROM ${t.drillBlocks} WHERE drill_id = $1 LIMIT $2)`
}

/** $1 session, $2 block size: the stopping drill becomes a history row, and is gone (the history row). */
export function recordHistorySql(t: DrillTables): string {
  return `WITH gone AS (DELETE FROM ${t.drills} WHERE session = $1 AND phase = 'stopping' RETURNING *)
    INSERT INTO ${t.drillHistory} (id, session, name, snapshot, group_seq, group_time, source, started_at, checked,
      blocks_written, bytes_written)
    SELECT id, session, name, snapshot, group_seq, group_time, source, started_at, checked,
      coalesce(blocks_written, 0), coalesce(blocks_written, 0) * $2 FROM gone
    RETURNING id, name, snapshot, group_seq, group_time, source, started_at, stopped_at, checked, blocks_written,
      bytes_written`
}

/** $1 session, $2 limit: the newest history rows first. */
export function historySql(t: DrillTables): string {
  return `SELECT id, name, snapshot, group_seq, group_time, source, started_at, stopped_at, checked, blocks_written,
      bytes_written
    FROM ${t.drillHistory} WHERE session = $1 ORDER BY id DESC LIMIT $2`
}
