/**
 * Whether the secondary is a consistent image, group by group, and the
 * image to fall back on while it is not (tables: resyncTables.ts).
 *
 * Inside each group's apply transaction (the control row locked):
 *   0. the resync window events the group carries (schemas/resyncWindow.ts:
 *      the primary's BEGIN and END, in the controllers' streams) are
 *      applied to the resync rows, in (time, controller) order
 *      (`applyWindowEvents`); an END's time is <= T, and the BEGIN of a
 *      controller comes with the first group whose T passes its S (its own
 *      time may be later than T: mover/groups/controllerStream.ts), so step 1
 *      already sees the window it opens;
 *   1. the resync rows say whether the group's time T is inside a resync
 *      window: some controller with S < T whose epoch has no end time E <= T
 *      yet (`isInconsistentAt`, pure);
 *   2. if so, the image turns (or stays) inconsistent, remembering the last
 *      consistent group, and every block the group overwrites that has no
 *      saved version yet is copied into block_versions first (copy on
 *      write: each block is saved once, as of the last consistent group);
 *   3. after the blocks are written, a group past every end time turns the
 *      image consistent again: saved versions are dropped, rows are 'done'.
 * `rollbackSecondary` puts the saved versions back and the control row to
 * the last consistent group: the secondary as it was before the resync
 * (snapshots keep their images: none pins a group after it, and the
 * versions superseded since are back in blocks, so they are dropped).
 */
import { XrcError } from '../../lib/errors.js'
import type { Pool, PoolClient } from '../../lib/postgres.js'
import type { ConsistencyGroup, JournalWindow } from '../../schemas/journal.js'
import type { StoreTables } from '../store/index.js'
import { dropRolledBackVersionsSql } from '../store/snapshotSql.js'
import type { BlockRow } from '../store/index.js'
import type { AppliedMark } from '../journal/index.js'
import {
  resyncEndSql,
  resyncStartParams,
  resyncStartSql,
  resyncTables,
  type ResyncRowState,
  type ResyncTables,
} from './resyncTables.js'

/** What the secondary's image is. */
export interface ImageState {
  state: 'consistent' | 'inconsistent' | 'rolled-back'
  /** While inconsistent (or after a rollback): the group the image falls back on; seq 0 = none (empty image). */
  consistentGroup?: { groupSeq: number; groupTime: number | undefined }
  /** Block versions kept for a rollback. */
  retainedVersions: number
}

/** A controller's resync row as the applier reads it. */
export interface ResyncRow {
  state: ResyncRowState
  consistentUntil: number
  endTime: number | undefined
}

/** Pure: whether an image as of consistency time `t` holds resync data not yet complete. */
export function isInconsistentAt(rows: readonly ResyncRow[], t: number): boolean {
  return rows.some(
    (r) =>
      (r.state === 'running' || r.state === 'sent') &&
      t > r.consistentUntil &&
      (r.endTime === undefined || t < r.endTime),
  )
}

/**
 * Applies a group's window events to the resync rows, in order: a BEGIN
 * upserts the controller's row for its epoch (keeping the earlier S of a
 * window not yet finished: resyncStartSql), an END records E for its epoch
 * (resyncEndSql). Both are idempotent, so a group applied again after a
 * crash, or an event delivered twice, changes nothing more.
 */
export async function applyWindowEvents(
  client: Pick<PoolClient, 'query'>,
  t: ResyncTables,
  windows: readonly JournalWindow[],
): Promise<void> {
  for (const w of windows) {
    if (w.event === 'BEGIN') {
      await client.query(
        resyncStartSql(t),
        resyncStartParams([
          {
            controller: w.controller,
            epoch: w.epoch,
            consistentUntil: w.consistentUntil,
            blocks: w.blocks,
            reason: w.reason,
          },
        ]),
      )
    } else {
      await client.query(resyncEndSql(t), [[w.controller], w.epoch, w.time])
    }
  }
}

/** What a group's apply does about a resync: `after` runs once its blocks are written, in the same transaction. */
export interface ResyncApply {
  /** Nothing is known of a resync and the image is consistent (the common case): `after` does nothing. */
  quiet: boolean
  after: () => Promise<ImageState | undefined>
}

const QUIET: ResyncApply = { quiet: true, after: async () => undefined }

/**
 * Whether the resync step of `group` stays quiet without reading anything:
 * an earlier group of the same transaction found it quiet
 * (ResyncApply.quiet), and a group without window events changes nothing
 * of it. Otherwise the step reads the resync state, and may read the blocks
 * the groups before wrote (the versions it keeps).
 */
export function staysQuiet(knownQuiet: boolean, group: Pick<ConsistencyGroup, 'windows'>): boolean {
  return knownQuiet && (group.windows === undefined || group.windows.length === 0)
}

/** Runs at the start of a group's apply; `knownQuiet`: see staysQuiet. */
export async function prepareResyncApply(
  client: PoolClient,
  t: { store: StoreTables; resync: ResyncTables },
  session: string,
  last: AppliedMark | undefined,
  group: ConsistencyGroup,
  rows: readonly BlockRow[],
  knownQuiet = false,
): Promise<ResyncApply> {
  if (staysQuiet(knownQuiet, group)) return QUIET
  // before the decision below: the events of this group open or close windows as of its time
  if (group.windows !== undefined && group.windows.length > 0) await applyWindowEvents(client, t.resync, group.windows)
  const res = await client.query<{
    rows: { state: ResyncRowState; until: string; end: string | null }[]
    image: string | null
  }>(
    `SELECT (SELECT coalesce(json_agg(json_build_object(
                      'state', state, 'until', consistent_until::text, 'end', end_time::text)), '[]'::json)
             FROM ${t.resync.resync} WHERE state <> 'done') AS rows,
            (SELECT state FROM ${t.resync.image} WHERE session = $1) AS image`,
    [session],
  )
  const found = res.rows[0]
  const resync: ResyncRow[] = (found?.rows ?? []).map((r) => ({
    state: r.state,
    consistentUntil: Number(r.until),
    endTime: r.end === null ? undefined : Number(r.end),
  }))
  if (found?.image === 'rolled-back' || resync.some((r) => r.state === 'rolled-back')) {
    throw new XrcError('XRC_ROLLED_BACK', { session, groupSeq: group.groupSeq })
  }
  // nothing is known of a resync and the image is consistent: the common case costs this one query a transaction
  if (resync.length === 0 && found?.image !== 'inconsistent') return QUIET
  const inconsistent = isInconsistentAt(resync, group.groupTime)
  if (inconsistent) {
    if (found?.image !== 'inconsistent') {
      await client.query(markInconsistentSql(t.resync), [
        session,
        last?.groupSeq ?? 0,
        last?.groupTime ?? null,
        last?.journalOffset ?? null,
      ])
    }
    if (rows.length > 0) {
      // the version as of the last consistent group, saved once per block (a later group finds it saved)
      await client.query(
        `INSERT INTO ${t.resync.versions} (volume_id, block, group_seq, group_time, data)
         SELECT k.volume_id, k.block, b.group_seq, b.group_time, b.data
         FROM unnest($1::int[], $2::bigint[]) AS k(volume_id, block)
         LEFT JOIN ${t.store.blocks} b ON b.volume_id = k.volume_id AND b.block = k.block
         ON CONFLICT (volume_id, block) DO NOTHING`,
        [rows.map((r) => r.volumeId), rows.map((r) => r.block)],
      )
    }
  }
  return {
    quiet: false,
    async after() {
      if (!inconsistent) {
        // past every end time: consistent again, the fallback image is no longer needed
        await client.query(
          `UPDATE ${t.resync.resync} SET state = 'done', updated_at = now() WHERE state = 'sent' AND end_time <= $1`,
          [group.groupTime],
        )
        if (found?.image === 'inconsistent') {
          await client.query(`DELETE FROM ${t.resync.versions}`)
          await client.query(
            `UPDATE ${t.resync.image} SET state = 'consistent', updated_at = now() WHERE session = $1`,
            [session],
          )
        }
      }
      return readImageState(client, t.resync, session)
    },
  }
}

/** The image state as stored now (consistent when nothing was recorded). */
export async function readImageState(
  q: Pick<PoolClient, 'query'>,
  t: ResyncTables,
  session: string,
): Promise<ImageState> {
  const exists = await q.query<{ r: string | null }>('SELECT to_regclass($1)::text AS r', [t.image])
  if (!exists.rows[0]?.r) return { state: 'consistent', retainedVersions: 0 }
  const res = await q.query<{ state: ImageState['state']; seq: bigint; time: bigint | null; versions: bigint }>(
    `SELECT i.state, i.consistent_group_seq AS seq, i.consistent_group_time AS time,
            (SELECT count(*) FROM ${t.versions}) AS versions
     FROM ${t.image} i WHERE i.session = $1`,
    [session],
  )
  const row = res.rows[0]
  if (row === undefined || row.state === 'consistent')
    return { state: 'consistent', retainedVersions: Number(row?.versions ?? 0) }
  return {
    state: row.state,
    consistentGroup: { groupSeq: Number(row.seq), groupTime: row.time === null ? undefined : Number(row.time) },
    retainedVersions: Number(row.versions),
  }
}

/**
 * Turns the image inconsistent, falling back on the group in $2..$4 (seq,
 * time, journal offset): $1 session.
 */
function markInconsistentSql(t: ResyncTables): string {
  return `INSERT INTO ${t.image} (session, state, consistent_group_seq, consistent_group_time,
            consistent_journal_offset, inconsistent_since, updated_at)
          VALUES ($1, 'inconsistent', $2, $3, $4, now(), now())
          ON CONFLICT (session) DO UPDATE SET state = 'inconsistent', consistent_group_seq = $2,
            consistent_group_time = $3, consistent_journal_offset = $4, inconsistent_since = now(),
            updated_at = now()`
}

/** What a rollback did. */
export interface RollbackResult {
  /** The group the secondary holds now (seq 0: an empty image). */
  groupSeq: number
  groupTime: number | undefined
  /** Blocks put back to their version as of that group (rows restored or removed). */
  blocksRestored: number
  /** Groups undone (applied after that group). */
  groupsUndone: number
}

/**
 * Rolls an inconsistent secondary back to its last consistent group, in one
 * transaction: saved versions restored, the control row and the applied
 * history set back, the resync marked rolled back (an applier that meets it
 * halts with XRC_ROLLED_BACK). Throws XRC_USAGE when the image is consistent
 * (nothing to roll back).
 */
export async function rollbackSecondary(
  pool: Pool,
  store: StoreTables,
  schema: string,
  session: string,
): Promise<RollbackResult> {
  const t = resyncTables(schema)
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    await client.query(`SELECT 1 FROM ${store.control} WHERE session = $1 FOR UPDATE`, [session])
    const image = await readImageState(client, t, session)
    if (image.state !== 'inconsistent' || image.consistentGroup === undefined) {
      throw new XrcError('XRC_USAGE', { reason: 'nothingToRollBack', session, state: image.state })
    }
    const { groupSeq, groupTime } = image.consistentGroup
    await client.query(
      `DELETE FROM ${store.blocks} b USING ${t.versions} v WHERE b.volume_id = v.volume_id AND b.block = v.block`,
    )
    await client.query(
      `INSERT INTO ${store.blocks} (volume_id, block, group_seq, group_time, data)
       SELECT volume_id, block, group_seq, group_time, data FROM ${t.versions} WHERE data IS NOT NULL`,
    )
    // the blocks put back change their segments: their codes are not valid any more (applier/codes/)
    await client.query(
      `INSERT INTO ${store.segmentCodes} AS s (volume_id, segment, generation, valid)
       SELECT DISTINCT v.volume_id, v.block / c.segment_blocks, 1, false
       FROM ${t.versions} v, ${store.control} c WHERE c.session = $1 AND c.segment_blocks IS NOT NULL
       ON CONFLICT (volume_id, segment) DO UPDATE SET generation = s.generation + 1, valid = false`,
      [session],
    )
    const versions = await client.query<{ n: bigint }>(`SELECT count(*) AS n FROM ${t.versions}`)
    // by time, not seq: after a rebase the new journal numbers its groups from 1 again, with later times
    const undone = await client.query(
      `DELETE FROM ${store.appliedGroups} WHERE $1::bigint IS NULL OR group_time > $1`,
      [groupSeq === 0 ? null : (groupTime ?? null)],
    )
    const offset = await client.query<{ o: bigint | null }>(
      `SELECT consistent_journal_offset AS o FROM ${t.image} WHERE session = $1`,
      [session],
    )
    await client.query(
      `UPDATE ${store.control} SET group_seq = $2, group_time = $3, journal_offset = $4, applied_at = now()
       WHERE session = $1`,
      [
        session,
        groupSeq,
        groupSeq === 0 ? null : (groupTime ?? null),
        groupSeq === 0 ? null : (offset.rows[0]?.o ?? null),
      ],
    )
    await client.query(`DELETE FROM ${t.versions}`)
    await dropRolledBackSnapshotVersions(client, store, groupSeq === 0 ? undefined : groupTime)
    await client.query(`UPDATE ${t.image} SET state = 'rolled-back', updated_at = now() WHERE session = $1`, [session])
    await client.query(
      `UPDATE ${t.resync} SET state = 'rolled-back', updated_at = now() WHERE state IN ('running', 'sent')`,
    )
    await client.query('COMMIT')
    const blocksRestored = Number(versions.rows[0]?.n ?? 0)
    return { groupSeq, groupTime, blocksRestored, groupsUndone: undone.rowCount ?? 0 }
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined)
    throw err
  } finally {
    client.release()
  }
}

/**
 * Snapshot versions that groups after the last consistent one (at
 * `consistentTime`; undefined: none) superseded are dropped: the rollback
 * put each one back in blocks (see dropRolledBackVersionsSql). A store made
 * before snapshots has no such table.
 */
async function dropRolledBackSnapshotVersions(
  client: PoolClient,
  store: StoreTables,
  consistentTime: number | undefined,
): Promise<void> {
  const exists = await client.query<{ r: string | null }>('SELECT to_regclass($1)::text AS r', [store.snapshotVersions])
  if (!exists.rows[0]?.r) return
  await client.query(dropRolledBackVersionsSql(store), [consistentTime ?? null])
}

/** What a rebase did. */
export interface RebaseResult {
  /** The group the secondary held: its image is what the new journal builds on. */
  groupSeq: number
  groupTime: number | undefined
}

/**
 * Prepares the secondary for a new journal after the old one (or the
 * updates topic) was lost, in one transaction: the control row and the
 * applied history start again from group 0, so the applier takes group 1
 * of the new journal on top of the image it holds; the image is marked
 * inconsistent (falling back on the group it held, unless it already fell
 * back on an earlier one) and every controller's resync row starts with
 * S = 0, so every group of the new journal keeps the rollback image until
 * the resync that rebuilds the lost changes ends.
 */
export async function rebaseSecondary(
  pool: Pool,
  store: StoreTables,
  schema: string,
  session: string,
  controllers: readonly number[],
): Promise<RebaseResult> {
  const t = resyncTables(schema)
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    const ctl = await client.query<{ seq: bigint; time: bigint | null; o: bigint | null }>(
      `SELECT group_seq AS seq, group_time AS time, journal_offset AS o FROM ${store.control}
       WHERE session = $1 FOR UPDATE`,
      [session],
    )
    const mark = ctl.rows[0]
    if (mark === undefined) throw new XrcError('XRC_NOT_FOUND', { reason: 'noSecondary', session, schema })
    const image = await readImageState(client, t, session)
    if (image.state === 'rolled-back') throw new XrcError('XRC_ROLLED_BACK', { reason: 'noRebase', session })
    if (image.state === 'consistent') {
      await client.query(markInconsistentSql(t), [session, mark.seq, mark.time, mark.o])
    }
    await client.query(`DELETE FROM ${store.appliedGroups}`)
    await client.query(
      `UPDATE ${store.control} SET group_seq = 0, group_time = NULL, journal_offset = NULL, applied_at = now()
       WHERE session = $1`,
      [session],
    )
    await client.query(
      `INSERT INTO ${t.resync} (controller, epoch, state, consistent_until, end_time, blocks, reason, updated_at)
       SELECT c, 0, 'running', 0, NULL, 0, 'journal-lost', now() FROM unnest($1::int[]) AS c
       ON CONFLICT (controller) DO UPDATE SET state = 'running', consistent_until = 0, end_time = NULL,
         reason = 'journal-lost', updated_at = now()`,
      [controllers],
    )
    await client.query('COMMIT')
    return { groupSeq: Number(mark.seq), groupTime: mark.time === null ? undefined : Number(mark.time) }
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined)
    throw err
  } finally {
    client.release()
  }
}
