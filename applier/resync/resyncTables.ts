/**
 * The secondary's record of resyncs, in the session's schema beside the
 * block store: what the primary said of its resync epochs (window events in
 * the controllers' streams, applied with the group that carries them:
 * schemas/resyncWindow.ts), from which the applier decides, group by group,
 * whether the secondary is a consistent image and keeps the block versions
 * a rollback needs. Every statement is idempotent.
 *
 *   resync          one row per controller, from the primary's window events
 *                   (and from `xrc resync`, which rebases the secondary):
 *                   consistent_until S: the controller's stream held every
 *                   change up to S (later ones were only marked while it was
 *                   suspended, or lost with a journal: 0); end_time E, once
 *                   every resync record of the epoch has a time below E. The
 *                   secondary is inconsistent at a group time T when some row
 *                   in 'running' or 'sent' has S < T and no E <= T.
 *   resync_image    one row per session, written by the applier: whether the
 *                   image is 'consistent', 'inconsistent' (a resync is being
 *                   applied), or 'rolled-back'; the last consistent group
 *                   (seq, time, journal offset) to fall back on.
 *   block_versions  while inconsistent: each block's version as of the last
 *                   consistent group, saved before the first group that
 *                   overwrites it (copy on write; data NULL = the block had
 *                   no row, reads as zeros). Dropped once consistent again.
 */
import { createSchemaIfMissing, ident } from '../../lib/postgres.js'

export interface ResyncTables {
  resync: string
  image: string
  versions: string
}

export function resyncTables(schema: string): ResyncTables {
  const s = ident(schema)
  return { resync: `${s}.resync`, image: `${s}.resync_image`, versions: `${s}.block_versions` }
}

/** States of a controller's resync row. */
export type ResyncRowState = 'running' | 'sent' | 'done' | 'rolled-back'

/** The DDL, in order (the block store's init runs it). */
export function resyncDdl(schema: string): string[] {
  const t = resyncTables(schema)
  return [
    createSchemaIfMissing(ident(schema)),
    `CREATE TABLE IF NOT EXISTS ${t.resync} (
      controller int PRIMARY KEY,
      epoch bigint NOT NULL,
      state text NOT NULL CHECK (state IN ('running', 'sent', 'done', 'rolled-back')),
      consistent_until bigint NOT NULL,
      end_time bigint,
      blocks bigint NOT NULL DEFAULT 0,
      reason text,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE TABLE IF NOT EXISTS ${t.image} (
      session text PRIMARY KEY,
      state text NOT NULL CHECK (state IN ('consistent', 'inconsistent', 'rolled-back')),
      consistent_group_seq bigint NOT NULL DEFAULT 0,
      consistent_group_time bigint,
      consistent_journal_offset bigint,
      inconsistent_since timestamptz,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`,
    `CREATE TABLE IF NOT EXISTS ${t.versions} (
      volume_id int NOT NULL,
      block bigint NOT NULL,
      group_seq bigint,
      group_time bigint,
      data bytea,
      PRIMARY KEY (volume_id, block)
    )`,
  ]
}

/** A resync epoch the primary begins for a controller (a BEGIN window event). */
export interface ResyncStart {
  controller: number
  epoch: number
  consistentUntil: number
  blocks: number
  reason: string
}

/**
 * Upserts a controller's row as 'running' for a new epoch (its end time
 * cleared). A row whose epoch the secondary has not finished applying
 * ('running' or 'sent') keeps the earlier S: the new window must cover the
 * old one, or a group between the old S and the old E would pass for
 * consistent. Parameters: see resyncStartParams.
 */
export function resyncStartSql(schema: string | ResyncTables): string {
  const t = typeof schema === 'string' ? resyncTables(schema) : schema
  return `INSERT INTO ${t.resync} AS r
      (controller, epoch, state, consistent_until, end_time, blocks, reason, updated_at)
    SELECT c, e, 'running', s, NULL, b, why, now()
    FROM unnest($1::int[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[]) AS x(c, e, s, b, why)
    ON CONFLICT (controller) DO UPDATE SET epoch = EXCLUDED.epoch, state = 'running',
      consistent_until = CASE WHEN r.state IN ('running', 'sent')
        THEN LEAST(r.consistent_until, EXCLUDED.consistent_until) ELSE EXCLUDED.consistent_until END,
      end_time = NULL, blocks = EXCLUDED.blocks, reason = EXCLUDED.reason, updated_at = now()`
}

export function resyncStartParams(rows: readonly ResyncStart[]): unknown[] {
  return [
    rows.map((r) => r.controller),
    rows.map((r) => r.epoch),
    rows.map((r) => r.consistentUntil),
    rows.map((r) => r.blocks),
    rows.map((r) => r.reason),
  ]
}

/**
 * Ends an epoch (an END window event): $1 controllers, $2 epoch, $3 end
 * time. A row of another epoch, one already ended (an END delivered twice)
 * or rolled back is left alone.
 */
export function resyncEndSql(schema: string | ResyncTables): string {
  const t = typeof schema === 'string' ? resyncTables(schema) : schema
  return `UPDATE ${t.resync} SET state = 'sent', end_time = $3, updated_at = now()
    WHERE controller = ANY($1::int[]) AND epoch = $2 AND state = 'running'`
}
