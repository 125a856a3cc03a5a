/**
 * Snapshots of a session's secondary: point-in-time images made without
 * copying data (US 6,212,531). A snapshot pins an applied group; from then
 * on the apply keeps, in the same transaction, the block versions it
 * replaces that a snapshot still sees (copy on write: snapshotApply.ts), and
 * a snapshot reads as the current rows written at or before its group plus
 * those kept versions. Tables: blockStoreDdl.ts; rules: snapshotRules.ts.
 *
 * Create, activation and delete lock the control row first, as every apply
 * does, so they serialize with applies: creating takes one short
 * transaction whatever the volume size, and a snapshot is never half made.
 * Reads (snapshotReads.ts) run in REPEATABLE READ and block nothing.
 */
import { XrcError } from '../../lib/errors.js'
import type { FaultPoints } from '../../lib/faultPoints.js'
import { silentLogger, type Logger } from '../../lib/logger.js'
import type { Pool, PoolClient } from '../../lib/postgres.js'
import type { AppliedMark } from '../journal/index.js'
import { resyncTables, type ResyncTables } from '../resync/index.js'
import { markOfControlRow, safeNumber, type ControlRow } from './applyRules.js'
import { storeTables, type StoreTables } from './blockStoreDdl.js'
import { readImageConsistency } from './snapshotApply.js'
import { createSnapshotReads, type CopyResult, type SnapshotDiff, type SnapshotReads } from './snapshotReads.js'
import {
  checkSnapshotName,
  checkSnapshotTarget,
  defaultSnapshotName,
  isDrillSnapshot,
  pinsNow,
  snapshotsToRetire,
  type RetentionLimits,
  type SnapshotTarget,
} from './snapshotRules.js'
import * as sql from './snapshotSql.js'
import { readControlSql } from './storeSql.js'
import { inTransaction } from './transaction.js'
import type { ExportResult } from './volumeReader.js'

export type { CopyResult, SnapshotDiff, VolumeDiff } from './snapshotReads.js'
export type { BlockRange, RetentionLimits } from './snapshotRules.js'
export { LIVE_IMAGE } from './snapshotRules.js'

export interface SnapshotsOptions {
  pool: Pool
  /** The schema of the session's secondary (config.applier.schema); its store must be init()ed. */
  schema: string
  session: string
  logger?: Logger
  /** The fault suite's point snapshots.before-commit (lib/faultPoints.ts), in delete and retire. */
  faults?: FaultPoints
}

/** What to snapshot: the newest applied group (no target), or a group or a time ahead (pending until reached). */
export interface SnapshotRequest extends SnapshotTarget {
  /** 1-128 of letters, digits and . _ : @ - ; default: group-<seq>, at-group-<N> or at-time-<T>. */
  name?: string
}

/** A snapshot as list() and create() describe it. */
export interface SnapshotInfo {
  name: string
  /** 'pending': waits for its target (or, once reached, for a consistent image); 'active': pins a group. */
  state: 'pending' | 'active'
  /** The pinned group (active only): its seq, consistency time and the journal offset of its last record. */
  groupSeq?: number
  groupTime?: number
  journalOffset?: number
  /** The target of a snapshot made with one. */
  atGroup?: number
  atTime?: number
  /** Pending only: what it waits for: its target, or (target reached) the end of a resync. */
  waitingFor?: 'target' | 'consistent-image'
  createdAt: Date
  activatedAt?: Date
  /** Kept block versions this snapshot reads (versions shared with other snapshots counted for each). */
  versionsHeld: number
  /** Their stored size in bytes (after compression). */
  bytesHeld: number
  /** Of those, the ones no other snapshot reads: what delete() frees. */
  versionsOwned: number
  bytesOwned: number
}

/** The space all snapshots take together (Snapshots.space). */
export interface SnapshotSpace {
  active: number
  pending: number
  /** Kept block versions (each read by at least one active snapshot). */
  versions: number
  /** Their stored size in bytes (after compression). */
  bytes: number
}

/** What deleting a snapshot freed. */
export interface DeleteResult {
  name: string
  versionsFreed: number
  /** Stored bytes of the freed versions. */
  bytesFreed: number
}

/**
 * The snapshots of one session's secondary. Errors: XRC_NOT_FOUND for an
 * unknown snapshot (or a store not init()ed), XRC_USAGE for a bad name or
 * target, XRC_CONFLICT for a name taken, a snapshot now while the image is
 * inconsistent, or an image asked of a pending snapshot.
 */
export interface Snapshots {
  /**
   * Creates a snapshot in one short transaction (no data copied). Without a
   * target it pins the newest applied group now; XRC_USAGE if none is
   * applied, XRC_CONFLICT while a resync is applied (inconsistent image).
   * With `atGroup` N or `atTime` T (exactly one; XRC_USAGE unless ahead of
   * the newest group) it is pending: the apply pins group N once applied,
   * or the newest group with time <= T once known (the next group is after
   * T), or the first consistent group from there if a resync is applied.
   */
  create(request?: SnapshotRequest): Promise<SnapshotInfo>
  /** Every snapshot, active ones by group, then pending ones, with the space they hold. */
  list(): Promise<SnapshotInfo[]>
  /** Counts and the kept versions' size, without list()'s per-snapshot join: for status and metrics. */
  space(): Promise<SnapshotSpace>
  /** One snapshot (see list); XRC_NOT_FOUND when there is none of that name. */
  get(name: string): Promise<SnapshotInfo>
  /** Deletes a snapshot and the kept versions no other snapshot reads, in one transaction. */
  delete(name: string): Promise<DeleteResult>
  /**
   * Deletes the active snapshots beyond `limits` (snapshotRules.snapshotsToRetire),
   * oldest first, in one transaction; `nowMicros` the session time (default: now).
   */
  retire(limits: RetentionLimits, nowMicros?: number): Promise<DeleteResult[]>
  /** Writes a volume's image as of the snapshot to `path`, streaming (as BlockStore.exportVolume). */
  export(name: string, volume: string, path: string): Promise<ExportResult>
  /** Images of `volumes` (all when absent) as of the snapshot, in memory: for tests and small volumes. */
  readImages(name: string, volumes?: readonly string[]): Promise<{ images: Map<string, Buffer>; asOf: AppliedMark }>
  /** The blocks that differ between two images, per volume; either name may be LIVE_IMAGE ('live'). */
  diff(from: string, to: string): Promise<SnapshotDiff>
  /**
   * Seeds the empty store in `targetSchema` (created when missing) with the
   * snapshot's image and a control row at its group (seq, time, journal
   * offset), so an applier started on it continues at the next group.
   * XRC_USAGE when the target holds a group or blocks, or is this schema.
   */
  copyInto(name: string, targetSchema: string): Promise<CopyResult>
}

/** The snapshots of the secondary in `options.schema` (see Snapshots). */
export function createSnapshots(options: SnapshotsOptions): Snapshots {
  return new PgSnapshots(options)
}

/** A snapshots row as PostgreSQL returns it. */
export interface SnapshotRow {
  id: bigint
  name: string
  state: 'pending' | 'active'
  group_seq: bigint | null
  group_time: bigint | null
  journal_offset: bigint | null
  at_group: bigint | null
  at_time: bigint | null
  created_at: Date
  activated_at: Date | null
}

/** A listed row: the snapshot and what it holds. */
interface HeldRow extends SnapshotRow {
  versions: bigint
  bytes: bigint
  own_versions: bigint
  own_bytes: bigint
}

/** The group a snapshot row pins; undefined for a pending one. */
export function pinOfRow(row: SnapshotRow): AppliedMark | undefined {
  if (row.state !== 'active' || row.group_seq === null || row.group_time === null || row.journal_offset === null)
    return undefined
  return markOfControlRow({ group_seq: row.group_seq, group_time: row.group_time, journal_offset: row.journal_offset })
}

/** A snapshot's target, as its row holds it. */
export function targetOfRow(row: Pick<SnapshotRow, 'at_group' | 'at_time'>): SnapshotTarget {
  return {
    ...(row.at_group === null ? {} : { atGroup: safeNumber(row.at_group, 'at_group') }),
    ...(row.at_time === null ? {} : { atTime: safeNumber(row.at_time, 'at_time') }),
  }
}

function infoOf(row: HeldRow, last: AppliedMark | undefined): SnapshotInfo {
  const pin = pinOfRow(row)
  const target = targetOfRow(row)
  return {
    name: row.name,
    state: row.state,
    ...(pin === undefined
      ? {}
      : { groupSeq: pin.groupSeq, groupTime: pin.groupTime, journalOffset: pin.journalOffset }),
    ...target,
    ...(pin === undefined ? { waitingFor: pinsNow(target, last, 'consistent') ? 'consistent-image' : 'target' } : {}),
    createdAt: row.created_at,
    ...(row.activated_at === null ? {} : { activatedAt: row.activated_at }),
    versionsHeld: Number(row.versions),
    bytesHeld: Number(row.bytes),
    versionsOwned: Number(row.own_versions),
    bytesOwned: Number(row.own_bytes),
  }
}

class PgSnapshots implements Snapshots {
  readonly #pool: Pool
  readonly #session: string
  readonly #schema: string
  readonly #tables: StoreTables
  readonly #resync: ResyncTables
  readonly #reads: SnapshotReads
  readonly #log: Logger
  readonly #faults: FaultPoints | undefined

  constructor(options: SnapshotsOptions) {
    this.#faults = options.faults
    this.#pool = options.pool
    this.#session = options.session
    this.#schema = options.schema
    this.#tables = storeTables(options.schema)
    this.#resync = resyncTables(options.schema)
    this.#log = (options.logger ?? silentLogger).child({
      component: 'snapshots',
      session: options.session,
      schema: options.schema,
    })
    this.#reads = createSnapshotReads({
      pool: options.pool,
      schema: options.schema,
      session: options.session,
      tables: this.#tables,
      snapshotNotFound: (name) => this.#notFound(name),
    })
  }

  async create(request: SnapshotRequest = {}): Promise<SnapshotInfo> {
    const target: SnapshotTarget = {
      ...(request.atGroup === undefined ? {} : { atGroup: request.atGroup }),
      ...(request.atTime === undefined ? {} : { atTime: request.atTime }),
    }
    if (request.name !== undefined) checkSnapshotName(request.name)
    const info = await inTransaction(this.#pool, async (client) => {
      const last = markOfControlRow(await this.#lockControl(client))
      const { image, fallback } = await readImageConsistency(client, this.#resync, this.#session)
      checkSnapshotTarget(target, last, image, { session: this.#session, ...(fallback ? { fallback } : {}) })
      const name = request.name ?? defaultSnapshotName(target, last)
      const pin = target.atGroup === undefined && target.atTime === undefined ? last : undefined
      const inserted = await client.query(sql.insertSnapshotSql(this.#tables), [
        name,
        pin === undefined ? 'pending' : 'active',
        pin?.groupSeq ?? null,
        pin?.groupTime ?? null,
        pin?.journalOffset ?? null,
        target.atGroup ?? null,
        target.atTime ?? null,
      ])
      if (inserted.rowCount === 0)
        throw new XrcError('XRC_CONFLICT', { reason: 'snapshotNameTaken', name, session: this.#session })
      await client.query(sql.refreshSummarySql(this.#tables), [this.#session])
      const row = await this.#row(client, name)
      return infoOf({ ...row, versions: 0n, bytes: 0n, own_versions: 0n, own_bytes: 0n }, last)
    })
    this.#log.info({ snapshot: info.name, state: info.state, groupSeq: info.groupSeq, ...target }, 'snapshot created')
    return info
  }

  async list(): Promise<SnapshotInfo[]> {
    await this.#reads.checkStore()
    const last = markOfControlRow(await this.#readControl(this.#pool))
    const res = await this.#pool.query<HeldRow>(sql.listSnapshotsSql(this.#tables))
    return res.rows.map((r) => infoOf(r, last))
  }

  async space(): Promise<SnapshotSpace> {
    await this.#reads.checkStore()
    const res = await this.#pool.query<{ active: bigint; pending: bigint; versions: bigint; bytes: bigint }>(
      sql.snapshotSpaceSql(this.#tables),
    )
    const row = res.rows[0]
    return {
      active: Number(row?.active ?? 0),
      pending: Number(row?.pending ?? 0),
      versions: Number(row?.versions ?? 0),
      bytes: Number(row?.bytes ?? 0),
    }
  }

  async get(name: string): Promise<SnapshotInfo> {
    const found = (await this.list()).find((s) => s.name === name)
    if (found === undefined) throw this.#notFound(name)
    return found
  }

  async delete(name: string): Promise<DeleteResult> {
    if (isDrillSnapshot(name)) throw new XrcError('XRC_USAGE', { reason: 'snapshotOfDrill', name })
    const result = await inTransaction(this.#pool, async (client) => {
      await this.#lockControl(client)
      const freed = await this.#deleteLocked(client, await this.#row(client, name))
      await client.query(sql.refreshSummarySql(this.#tables), [this.#session])
      this.#faults?.reach('snapshots.before-commit')
      return freed
    })
    this.#log.info({ snapshot: name, ...result }, 'snapshot deleted')
    return result
  }

  async retire(limits: RetentionLimits, nowMicros = Date.now() * 1000): Promise<DeleteResult[]> {
    const results = await inTransaction(this.#pool, async (client) => {
      await this.#lockControl(client)
      const rows = await client.query<SnapshotRow>(
        `SELECT ${sql.SNAPSHOT_COLUMNS} FROM ${this.#tables.snapshots} s WHERE s.state = 'active'`,
      )
      // a drill's snapshot is the drill's (isDrillSnapshot): neither counted nor retired
      const active = rows.rows
        .filter((r) => !isDrillSnapshot(r.name))
        .map((r) => ({ row: r, name: r.name, groupTime: Number(r.group_time) }))
      const names = new Set(snapshotsToRetire(active, limits, nowMicros))
      const deleted: DeleteResult[] = []
      for (const a of active) if (names.has(a.name)) deleted.push(await this.#deleteLocked(client, a.row))
      if (deleted.length > 0) {
        await client.query(sql.refreshSummarySql(this.#tables), [this.#session])
        this.#faults?.reach('snapshots.before-commit')
      }
      return deleted
    })
    for (const r of results) this.#log.info({ snapshot: r.name, ...r, ...limits }, 'snapshot retired')
    return results
  }

  export(name: string, volume: string, path: string): Promise<ExportResult> {
    return this.#reads.export(name, volume, path)
  }

  readImages(name: string, volumes?: readonly string[]): Promise<{ images: Map<string, Buffer>; asOf: AppliedMark }> {
    return this.#reads.readImages(name, volumes)
  }

  diff(from: string, to: string): Promise<SnapshotDiff> {
    return this.#reads.diff(from, to)
  }

  copyInto(name: string, targetSchema: string): Promise<CopyResult> {
    return this.#reads.copyInto(name, targetSchema)
  }

  /** Deletes a snapshot's row and the versions only it reads; the control row is locked by the caller. */
  async #deleteLocked(client: PoolClient, row: SnapshotRow): Promise<DeleteResult> {
    const pin = pinOfRow(row)
    let versionsFreed = 0
    let bytesFreed = 0
    if (pin !== undefined) {
      const res = await client.query<{ versions: bigint; bytes: bigint }>(sql.freeVersionsSql(this.#tables), [
        row.id,
        pin.groupTime,
      ])
      versionsFreed = Number(res.rows[0]?.versions ?? 0)
      bytesFreed = Number(res.rows[0]?.bytes ?? 0)
    }
    await client.query(`DELETE FROM ${this.#tables.snapshots} WHERE id = $1`, [row.id])
    return { name: row.name, versionsFreed, bytesFreed }
  }

  async #row(client: Pick<PoolClient, 'query'>, name: string): Promise<SnapshotRow> {
    const res = await client.query<SnapshotRow>(sql.snapshotByNameSql(this.#tables), [name])
    const row = res.rows[0]
    if (row === undefined) throw this.#notFound(name)
    return row
  }

  /** Locks the control row, as an apply does: what follows serializes with applies. */
  async #lockControl(client: PoolClient): Promise<ControlRow> {
    await this.#reads.checkStore(client)
    return this.#readControl(client, true)
  }

  async #readControl(q: Pick<PoolClient, 'query'>, lock = false): Promise<ControlRow> {
    const res = await q.query<ControlRow>(readControlSql(this.#tables, lock), [this.#session])
    const row = res.rows[0]
    if (row === undefined)
      throw new XrcError('XRC_NOT_FOUND', { reason: 'controlRow', schema: this.#schema, session: this.#session })
    return row
  }

  #notFound(name: string): XrcError {
    return new XrcError('XRC_NOT_FOUND', { reason: 'snapshot', name, session: this.#session, schema: this.#schema })
  }
}
