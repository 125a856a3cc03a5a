/**
 * The secondary block store of one session, in its own PostgreSQL schema
 * (tables and storage choices: blockStoreDdl.ts). It applies consistency
 * groups whole and in order, one or several consecutive groups per
 * transaction (each with its history row, the control row once at the
 * last), and reads volume images consistent with one group.
 *
 * In a batch each group still writes its own blocks (DELETE + COPY) in
 * order, not one merged write for the batch: a resync window can turn the
 * image inconsistent at any group, and its copy on write must save each
 * block as of the group before it; a pending snapshot can pin any group of
 * the batch, and snapshot copy on write must keep each version it sees.
 *
 * Snapshots (snapshots.ts) cost the apply nothing while none is active: the
 * newest pin comes with the control row's lock, and without one the DELETE
 * is the plain one. With one, the same statement marks the replaced rows
 * the snapshot sees superseded (they stay where they are, data and all) and
 * deletes the rest (snapshotApply.ts, snapshotSql.ts).
 *
 * Block data travels in binary both ways. Measured on the development
 * machine (PostgreSQL 15 on the same host, 2 cores; groups of 2000 blocks of
 * 4 KiB, random data, median group apply time):
 *   DELETE the group's keys + COPY ... FROM STDIN (FORMAT binary) into
 *   blocks ................................................... 64-69 ms
 *   multi-row INSERT ... ON CONFLICT, one bytea parameter per row (binary),
 *   250-1000 rows per statement .............................. 62-71 ms
 *   COPY binary into a temp table + INSERT ... SELECT ON CONFLICT 87-91 ms
 *   one INSERT ... ON CONFLICT per block ..................... 268 ms
 *   unnest($bytea[]) (node-postgres sends hex text) .......... 233 ms
 * The first two tie (about 115 MiB/s); the store uses DELETE + COPY: one
 * statement shape whatever the group size (no prepared statement per batch
 * size), and the same binary COPY format the reads use.
 */
import pgCopyStreams from 'pg-copy-streams'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { XrcError } from '../../lib/errors.js'
import type { FaultPoints } from '../../lib/faultPoints.js'
import { silentLogger, type Logger } from '../../lib/logger.js'
import { sqlLiteral, type Pool, type PoolClient } from '../../lib/postgres.js'
import type { ConsistencyGroup } from '../../schemas/journal.js'
import { segmentsWritten } from '../codes/index.js'
import { checkGroupOrder, type AppliedMark } from '../journal/index.js'
import { prepareResyncApply, readImageState, resyncDdl, resyncTables, staysQuiet } from '../resync/index.js'
import type { ImageState, ResyncTables } from '../resync/index.js'
import {
  checkDuplicateTime,
  checkJournalOffset,
  checkNotFenced,
  imageAfterCommit,
  markOfControlRow,
  safeNumber,
  volumeMismatches,
  type ControlRow,
} from './applyRules.js'
import { blockStoreDdl, dataStorageAlter, storeTables, type StoreTables } from './blockStoreDdl.js'
import { encodeGroupsRows, lastWriters, type BlockRow } from './copyBinary.js'
import { validateGroup, type StoreLayout, type VolumeLayout } from './groupValidation.js'
import * as sql from './storeSql.js'
import { CHECKED_SETTINGS, SERVER_SETTINGS_SQL, serverWarnings, type ServerWarning } from './serverChecks.js'
import { SnapshotApply, type SnapshotApplyContext } from './snapshotApply.js'
import * as snapshotSql from './snapshotSql.js'
import { inTransaction } from './transaction.js'
import { exportVolume, readImages, type ExportResult, type VolumeReadContext } from './volumeReader.js'

export type { AppliedMark } from '../journal/index.js'
export type { ExportResult } from './volumeReader.js'

export interface BlockStoreOptions {
  pool: Pool
  /** PostgreSQL schema holding this session's secondary (config.applier.schema). */
  schema: string
  session: string
  /** Bytes per block (config.session.blockSize). */
  blockSize: number
  /** The session's volumes; init() registers them and refuses a size change. */
  volumes: readonly { name: string; blocks: number }[]
  /** Blocks per segment of the codes (config.session.segmentBlocks; 256 when absent). */
  segmentBlocks?: number
  /** The journal partition offsets refer to (the journal has one: 0). */
  journalPartition?: number
  logger?: Logger
  /** The fault suite's points applier.before-commit and applier.after-commit (lib/faultPoints.ts). */
  faults?: FaultPoints
}

/** A group and the journal offset of its last record, as applyGroups takes them. */
export interface GroupToApply {
  group: ConsistencyGroup
  journalOffset: number
}

/** 'applied': the group is now the last applied one. 'duplicate': it was applied before; nothing was written. */
export type ApplyOutcome = 'applied' | 'duplicate'

export interface BlockStore {
  readonly schema: string
  readonly session: string
  readonly blockSize: number
  /** Quoted table names, for tests and tools that inspect the store. */
  readonly tables: StoreTables
  /**
   * Creates the schema and tables when missing and registers the session's
   * volumes; safe to run on every start and from two processes at once.
   * Throws XRC_CONFIG_INVALID when the schema holds another session, or a
   * volume with another size or block size.
   */
  init(): Promise<void>
  /** What the server's settings put at stake for this store (serverChecks.ts): none when all is well. */
  serverWarnings(): Promise<ServerWarning[]>
  /**
   * Applies a whole group in one transaction: its blocks, the control row
   * (locked FOR UPDATE, so concurrent appliers serialize) and an
   * applied_groups row. `journalOffset` is the offset of the group's last
   * part. Returns 'duplicate' (writing nothing) for a group at or below the
   * last applied one. Throws XRC_COMMIT_UNKNOWN (retriable) when the
   * connection failed during COMMIT: the group may have committed, and the
   * next attempt learns from the control row whether it did (then it is a
   * 'duplicate'). Throws XRC_GROUP_OUT_OF_ORDER for a gap, a time that
   * does not advance, or a duplicate whose time differs from the applied
   * group's; XRC_INVALID_RECORD for an update the store cannot hold (before
   * anything is written); XRC_NOT_FOUND before init().
   */
  applyGroup(group: ConsistencyGroup, journalOffset: number): Promise<ApplyOutcome>
  /**
   * Applies consecutive groups (journal order) in one transaction: the
   * control row locked once; per group, in order, the rules of applyGroup
   * against the group before it (a duplicate writes nothing; a gap or a
   * time that does not advance throws and nothing of the batch commits), its
   * resync window events and consistency decision, the pending snapshots
   * that pin the group before it, its blocks (copy on write for the active
   * snapshots) and its history row; the pending snapshots that pin the last
   * group; the control row advanced once, to the last applied group;
   * one COMMIT. Returns one outcome per group. Every group is validated
   * before anything is written. XRC_COMMIT_UNKNOWN as for applyGroup: the
   * next attempt finds the committed groups duplicates.
   */
  applyGroups(batch: readonly GroupToApply[]): Promise<ApplyOutcome[]>
  /** The last applied group, or undefined for a store that applied none. */
  lastApplied(): Promise<AppliedMark | undefined>
  /** One block as of the last applied group (zeros if never written). */
  readBlock(volume: string, block: number): Promise<Buffer>
  /** A whole volume in memory, with the applied group it is the image of: for tests and small volumes. */
  readImage(volume: string): Promise<{ image: Buffer; asOf: AppliedMark | undefined }>
  /**
   * Several volumes (all when absent) read in one snapshot, so all are as of
   * the same group: what a checker of cross-volume consistency needs.
   */
  readImages(volumes?: readonly string[]): Promise<{ images: Map<string, Buffer>; asOf: AppliedMark | undefined }>
  /** Writes a volume's image as of the last applied group to `path`, streaming (see volumeReader.ts). */
  exportVolume(volume: string, path: string): Promise<ExportResult>
  /** The volumes of the store (loads them on first use). */
  volumes(): Promise<readonly VolumeLayout[]>
  /**
   * Whether the image is consistent or a resync is being applied
   * (resyncImage.ts): as of the last group this store applied, else undefined.
   */
  consistency(): ImageState | undefined
  /** The same, read from the database now. */
  readConsistency(): Promise<ImageState>
}

/** A block store of one session in PostgreSQL (see BlockStore for the contract). */
export function createBlockStore(options: BlockStoreOptions): BlockStore {
  return new PgBlockStore(options)
}

/** A group of a batch, validated: its rows as the store writes them. */
interface PlannedGroup extends GroupToApply {
  rows: readonly BlockRow[]
}

/** What a batch's transaction did: an outcome per group, and per applied group what it read of the image. */
interface BatchApplied {
  outcomes: ApplyOutcome[]
  images: (ImageState | undefined)[]
}

/** What a client or pool offers that the store's reads need. */
type Queryable = Pick<PoolClient, 'query'>

/**
 * The store: its layout (volumes) and image state are the only state it
 * keeps, both read back from the database; each apply is one transaction.
 */
class PgBlockStore implements BlockStore {
  readonly schema: string
  readonly session: string
  readonly blockSize: number
  readonly tables: StoreTables
  readonly #options: BlockStoreOptions
  readonly #pool: Pool
  readonly #partition: number
  readonly #resync: ResyncTables
  readonly #log: Logger
  readonly #readCtx: VolumeReadContext
  readonly #snapshotCtx: SnapshotApplyContext
  readonly #segmentBlocks: number
  #layout: StoreLayout | undefined
  #image: ImageState | undefined

  constructor(options: BlockStoreOptions) {
    this.#options = options
    this.#pool = options.pool
    this.schema = options.schema
    this.session = options.session
    this.blockSize = options.blockSize
    this.tables = storeTables(options.schema)
    this.#partition = options.journalPartition ?? 0
    this.#segmentBlocks = options.segmentBlocks ?? 256
    this.#resync = resyncTables(options.schema)
    this.#log = (options.logger ?? silentLogger).child({
      component: 'block-store',
      session: options.session,
      schema: options.schema,
    })
    this.#snapshotCtx = { tables: this.tables, resync: this.#resync, session: options.session }
    this.#readCtx = {
      pool: options.pool,
      tables: this.tables,
      session: options.session,
      blockSize: options.blockSize,
      readMark: (client) => this.#readMark(client),
    }
  }

  async init(): Promise<void> {
    await inTransaction(this.#pool, async (client) => {
      // CREATE ... IF NOT EXISTS races with itself across sessions; one lock per schema serializes init
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`xrc.block-store:${this.schema}`])
      for (const ddl of blockStoreDdl(this.tables)) await client.query(ddl)
      for (const ddl of resyncDdl(this.schema)) await client.query(ddl)
      await this.#setDataStorage(client)
      await this.#claimSchema(client)
      await this.#registerVolumes(client)
      await this.#keepSegmentSize(client)
      await this.#loadLayout(client)
    })
    this.#log.debug({ volumes: this.#layout?.volumes.size }, 'block store ready')
  }

  async applyGroup(group: ConsistencyGroup, journalOffset: number): Promise<ApplyOutcome> {
    const [outcome] = await this.applyGroups([{ group, journalOffset }])
    return outcome as ApplyOutcome
  }

  async applyGroups(batch: readonly GroupToApply[]): Promise<ApplyOutcome[]> {
    if (batch.length === 0) return []
    const layout = await this.#currentLayout()
    const planned = batch.map(({ group, journalOffset }) => {
      checkJournalOffset(journalOffset)
      return { group, journalOffset, rows: validateGroup(group, layout) }
    })
    let applied: BatchApplied = { outcomes: [], images: [] }
    // the control row is locked in the BEGIN's round trip (inTransaction's opening statement)
    const lockControl = sql.readControlSql(this.tables, true, sqlLiteral(this.session))
    await inTransaction<void, ControlRow>(
      this.#pool,
      async (client, opened) => {
        applied = await this.#applyInTransaction(client, planned, this.#controlRowOf(opened))
      },
      lockControl,
    )
    if (applied.outcomes.includes('applied')) {
      // the image after each group, in order: the last one's is the image now
      for (const written of applied.images) this.#image = imageAfterCommit(this.#image, written)
      this.#options.faults?.reach('applier.after-commit')
    }
    return applied.outcomes
  }

  async serverWarnings(): Promise<ServerWarning[]> {
    const res = await this.#pool.query<{ name: string; setting: string }>(SERVER_SETTINGS_SQL, [CHECKED_SETTINGS])
    return serverWarnings(Object.fromEntries(res.rows.map((r) => [r.name, r.setting])), this.tables.blockRows)
  }

  lastApplied(): Promise<AppliedMark | undefined> {
    return this.#readMark(this.#pool)
  }

  consistency(): ImageState | undefined {
    return this.#image
  }

  async readConsistency(): Promise<ImageState> {
    this.#image = await readImageState(this.#pool, this.#resync, this.session)
    return this.#image
  }

  async readBlock(volume: string, block: number): Promise<Buffer> {
    const v = await this.#volumeOf(volume)
    if (!Number.isSafeInteger(block) || block < 0 || block >= v.blocks)
      throw new XrcError('XRC_USAGE', { reason: 'blockOutsideVolume', block, volume, lastBlock: v.blocks - 1 })
    const res = await this.#pool.query<{ data: Buffer }>(
      `SELECT data FROM ${this.tables.blocks} WHERE volume_id = $1 AND block = $2`,
      [v.id, block],
    )
    return res.rows[0]?.data ?? Buffer.alloc(this.blockSize)
  }

  async readImage(volume: string): Promise<{ image: Buffer; asOf: AppliedMark | undefined }> {
    const { images, asOf } = await readImages(this.#readCtx, [await this.#volumeOf(volume)])
    return { image: images.get(volume) as Buffer, asOf }
  }

  async readImages(
    volumes?: readonly string[],
  ): Promise<{ images: Map<string, Buffer>; asOf: AppliedMark | undefined }> {
    const layouts =
      volumes === undefined
        ? [...(await this.#currentLayout()).volumes.values()]
        : await Promise.all(volumes.map((v) => this.#volumeOf(v)))
    return readImages(this.#readCtx, layouts)
  }

  async exportVolume(volume: string, path: string): Promise<ExportResult> {
    return exportVolume(this.#readCtx, await this.#volumeOf(volume), path)
  }

  async volumes(): Promise<readonly VolumeLayout[]> {
    return [...(await this.#currentLayout()).volumes.values()]
  }

  /**
   * The batch inside its transaction, in the order the invariants need: the
   * control row locked (with the snapshot summary) and, per group, the order
   * decided first against the group before it; a duplicate writes nothing; a
   * group's resync window events and the consistency decision before its
   * blocks (copy on write saves what they overwrite), then the snapshots
   * that pin the group before it (only a consistent one is pinned); then its
   * blocks, keeping what the newest pin sees. The control row and the
   * history rows last, in one statement, all in one commit.
   */
  async #applyInTransaction(
    client: PoolClient,
    batch: readonly PlannedGroup[],
    control: ControlRow,
  ): Promise<BatchApplied> {
    checkNotFenced(control, this.session, batch[0]?.group.groupSeq ?? 0)
    let last = markOfControlRow(control)
    const snapshots = await SnapshotApply.open(client, this.#snapshotCtx, control)
    const result: BatchApplied = { outcomes: [], images: [] }
    const recorded: PlannedGroup[] = []
    const tables = { store: this.tables, resync: this.#resync }
    let resyncQuiet = false
    // groups whose blocks nothing reads before the batch's end (no snapshot, no resync): written together, the
    // last writer per block, in one DELETE and one COPY
    let unwritten: PlannedGroup[] = []
    const writeUnwritten = async (): Promise<void> => {
      if (unwritten.length > 0) await this.#writeBlocks(client, lastWriters(unwritten), undefined)
      unwritten = []
    }
    for (const planned of batch) {
      const { group, journalOffset, rows } = planned
      if (checkGroupOrder(last, group, journalOffset) === 'duplicate') {
        checkDuplicateTime(group, await this.#appliedTime(client, group.groupSeq))
        result.outcomes.push('duplicate')
        continue
      }
      // a resync step that does not stay quiet may read the blocks the groups before wrote
      if (!staysQuiet(resyncQuiet, group)) await writeUnwritten()
      const resyncApply = await prepareResyncApply(client, tables, this.session, last, group, rows, resyncQuiet)
      resyncQuiet = resyncApply.quiet
      const pin = await snapshots.beforeGroup(last, group)
      if (resyncApply.quiet && snapshots.idle) unwritten.push(planned)
      else {
        await writeUnwritten()
        await this.#writeBlocks(client, [planned], pin)
      }
      const image = await resyncApply.after()
      snapshots.afterGroup(image)
      result.images.push(image)
      result.outcomes.push('applied')
      recorded.push(planned)
      last = { groupSeq: group.groupSeq, groupTime: group.groupTime, journalOffset }
    }
    await writeUnwritten()
    if (recorded.length === 0) return result
    await snapshots.finish(last)
    await this.#recordGroups(client, recorded)
    this.#options.faults?.reach('applier.before-commit')
    return result
  }

  /**
   * Replaces the rows of the groups' blocks: DELETE, then binary COPY (see
   * the file comment), each row with its group's seq and time; the groups
   * name a block once among them (lastWriters). With an active snapshot
   * (`pin`: the newest one's group time; then one group at a time) the rows
   * it still sees are marked superseded instead of deleted, in the same
   * statement (copy on write).
   */
  async #writeBlocks(
    client: PoolClient,
    groups: readonly { group: ConsistencyGroup; rows: readonly BlockRow[] }[],
    pin: number | undefined,
  ): Promise<void> {
    const rows = groups.flatMap((g) => g.rows)
    if (rows.length === 0) return
    const keys = [rows.map((r) => r.volumeId), rows.map((r) => r.block)]
    const groupTime = (groups[groups.length - 1] as { group: ConsistencyGroup }).group.groupTime
    if (pin === undefined) await client.query(sql.deleteBlocksSql(this.tables), keys)
    else await client.query(snapshotSql.copyOnWriteDeleteSql(this.tables), [...keys, pin, groupTime])
    const copy = client.query(pgCopyStreams.from(sql.copyBlocksSql(this.tables)))
    const encoded = encodeGroupsRows(
      groups.map((g) => ({ rows: g.rows, groupSeq: g.group.groupSeq, groupTime: g.group.groupTime })),
    )
    await pipeline(Readable.from(encoded), copy)
    if (copy.rowCount !== rows.length) {
      throw new XrcError('XRC_INVALID_RECORD', {
        reason: 'copyShort',
        groupSeq: seqRange(groups.map((g) => g.group.groupSeq)),
        written: copy.rowCount,
        blocks: rows.length,
      })
    }
  }

  /**
   * The control row advanced to the last group, a history row per group, and the valid flag of every segment the
   * batch wrote cleared with its generation bumped (applier/codes/validFlags.ts), so a recomputation that read
   * before this commit cannot set a code valid: one statement.
   */
  async #recordGroups(client: PoolClient, groups: readonly PlannedGroup[]): Promise<void> {
    const { volumeIds, segments } = segmentsWritten(
      groups.flatMap((g) => g.rows),
      this.#segmentBlocks,
    )
    const res = await client.query(sql.recordGroupsSql(this.tables), [
      this.session,
      this.#partition,
      groups.map((g) => g.group.groupSeq),
      groups.map((g) => g.group.groupTime),
      groups.map((g) => g.journalOffset),
      groups.map((g) => g.rows.length),
      volumeIds,
      segments,
    ])
    if (res.rowCount !== groups.length)
      throw new XrcError('XRC_NOT_FOUND', { reason: 'controlRow', schema: this.schema, session: this.session })
  }

  /** The time group `groupSeq` was applied with, from the history; undefined when it has no row. */
  async #appliedTime(client: Queryable, groupSeq: number): Promise<bigint | undefined> {
    const res = await client.query<{ group_time: bigint }>(
      `SELECT group_time FROM ${this.tables.appliedGroups} WHERE group_seq = $1`,
      [groupSeq],
    )
    return res.rows[0]?.group_time
  }

  async #readMark(q: Queryable): Promise<AppliedMark | undefined> {
    return markOfControlRow(await this.#readControl(q))
  }

  /** The control row, not locked (an apply locks it with the snapshot summary: applyGroups). */
  async #readControl(q: Queryable): Promise<ControlRow> {
    const res = await q.query<ControlRow>(sql.readControlSql(this.tables, false), [this.session])
    return this.#controlRowOf(res.rows)
  }

  #controlRowOf(rows: readonly ControlRow[]): ControlRow {
    const row = rows[0]
    if (row === undefined)
      throw new XrcError('XRC_NOT_FOUND', { reason: 'controlRow', schema: this.schema, session: this.session })
    return row
  }

  /** Refuses a schema that holds another session's secondary. */
  async #claimSchema(client: PoolClient): Promise<void> {
    const other = await client.query<{ session: string }>(
      `SELECT session FROM ${this.tables.control} WHERE session <> $1 LIMIT 1`,
      [this.session],
    )
    const otherSession = other.rows[0]?.session
    if (otherSession === undefined) return
    throw new XrcError('XRC_CONFIG_INVALID', {
      reason: 'schemaOfOtherSession',
      schema: this.schema,
      otherSession,
      session: this.session,
      setting: 'applier.schema',
    })
  }

  /** The control row and the configured volumes; refuses a volume the store holds with another size. */
  async #registerVolumes(client: PoolClient): Promise<void> {
    const { volumes } = this.#options
    await client.query(sql.insertControlSql(this.tables), [this.session, this.#partition])
    await client.query(sql.insertVolumesSql(this.tables), [
      volumes.map((v) => v.name),
      volumes.map((v) => v.blocks),
      this.blockSize,
    ])
    const stored = await client.query<{ name: string; blocks: bigint; block_size: number }>(
      `SELECT name, blocks, block_size FROM ${this.tables.volumes}`,
    )
    const held = stored.rows.map((r) => ({ name: r.name, blocks: r.blocks, blockSize: r.block_size }))
    const mismatches = volumeMismatches(volumes, held, this.blockSize)
    if (mismatches.length === 0) return
    throw new XrcError('XRC_CONFIG_INVALID', {
      reason: 'storeMismatch',
      schema: this.schema,
      mismatches: mismatches.join('; '),
      session: this.session,
    })
  }

  /** Codes made with another segment size mean nothing now: they are dropped, to be recomputed. */
  async #keepSegmentSize(client: PoolClient): Promise<void> {
    const changed = await client.query(
      `UPDATE ${this.tables.control} SET segment_blocks = $2 WHERE session = $1 AND segment_blocks IS DISTINCT FROM $2`,
      [this.session, this.#segmentBlocks],
    )
    if ((changed.rowCount ?? 0) > 0) await client.query(`DELETE FROM ${this.tables.segmentCodes}`)
  }

  async #setDataStorage(client: PoolClient): Promise<void> {
    const lz4 = await client.query<{ has: boolean }>(sql.SERVER_HAS_LZ4_SQL)
    const table = this.tables.blockRows
    const col = await client.query<{ storage: string; compression: string }>(sql.DATA_COLUMN_STORAGE_SQL, [table])
    const current = col.rows[0] ?? { storage: '', compression: '' }
    const alter = dataStorageAlter(table, lz4.rows[0]?.has ?? false, current)
    if (alter !== undefined) await client.query(alter)
  }

  async #loadLayout(q: Queryable): Promise<StoreLayout> {
    const exists = await q.query<{ r: string | null }>('SELECT to_regclass($1)::text AS r', [this.tables.volumes])
    if (!exists.rows[0]?.r)
      throw new XrcError('XRC_NOT_FOUND', { reason: 'storeNotInitialised', schema: this.schema, session: this.session })
    const res = await q.query<{ id: number; name: string; blocks: bigint; block_size: number }>(
      `SELECT id, name, blocks, block_size FROM ${this.tables.volumes} ORDER BY id`,
    )
    const volumes = new Map<string, VolumeLayout>()
    for (const r of res.rows)
      volumes.set(r.name, { id: r.id, name: r.name, blocks: safeNumber(r.blocks, 'volume size') })
    this.#layout = { session: this.session, blockSize: this.blockSize, volumes }
    return this.#layout
  }

  async #currentLayout(): Promise<StoreLayout> {
    return this.#layout ?? (await this.#loadLayout(this.#pool))
  }

  async #volumeOf(name: string): Promise<VolumeLayout> {
    const v = (await this.#currentLayout()).volumes.get(name)
    if (v === undefined)
      throw new XrcError('XRC_NOT_FOUND', { reason: 'storeVolume', volume: name, session: this.session })
    return v
  }
}

/** A group's seq, or the first and last of several ("3..5"), as an error names them. */
function seqRange(seqs: readonly number[]): number | string {
  return seqs.length === 1 ? (seqs[0] as number) : `${seqs[0]}..${seqs[seqs.length - 1]}`
}
