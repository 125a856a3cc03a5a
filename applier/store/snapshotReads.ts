/**
 * Reading snapshots (snapshots.ts): a volume exported or read as of a
 * snapshot's group, two images compared block by block, and a snapshot's
 * image copied into an empty store. Reads run inside one REPEATABLE READ
 * transaction (volumeReader.ts), so an apply or a delete committing
 * meanwhile changes nothing they see; the copy locks the snapshot row FOR
 * SHARE, so a delete waits for it.
 */
import { XrcError } from '../../lib/errors.js'
import type { Pool, PoolClient } from '../../lib/postgres.js'
import type { AppliedMark } from '../journal/index.js'
import { markOfControlRow, safeNumber, type ControlRow } from './applyRules.js'
import { createBlockStore } from './blockStore.js'
import { storeTables, type StoreTables } from './blockStoreDdl.js'
import type { VolumeLayout } from './groupValidation.js'
import { blockRanges, LIVE_IMAGE, type BlockRange } from './snapshotRules.js'
import * as sql from './snapshotSql.js'
import type { SnapshotRow } from './snapshots.js'
import { readControlSql } from './storeSql.js'
import { inTransaction } from './transaction.js'
import { exportVolume, readImages, type ExportResult, type VolumeReadContext } from './volumeReader.js'

/** The blocks of one volume that differ between two images. */
export interface VolumeDiff {
  volume: string
  changedBlocks: number
  /** The changed blocks as runs of consecutive blocks, in order. */
  ranges: BlockRange[]
}

/** A diff of two images: the groups they are as of, and the changes per volume (every volume, changed or not). */
export interface SnapshotDiff {
  from: { name: string; asOf: AppliedMark | undefined }
  to: { name: string; asOf: AppliedMark | undefined }
  volumes: VolumeDiff[]
}

/** What copyInto wrote. */
export interface CopyResult {
  name: string
  schema: string
  /** The group the new store holds: the snapshot's. */
  asOf: AppliedMark
  /** Block rows copied (blocks never written are absent, and read as zeros). */
  blocks: number
}

export interface SnapshotReadsOptions {
  pool: Pool
  schema: string
  session: string
  tables: StoreTables
  snapshotNotFound: (name: string) => XrcError
}

/** The reads behind Snapshots.export, readImages, diff and copyInto (their contracts: snapshots.ts). */
export interface SnapshotReads {
  /** Throws XRC_NOT_FOUND unless the schema holds an init()ed store (with the snapshot tables). */
  checkStore(client?: Pick<PoolClient, 'query'>): Promise<void>
  export(name: string, volume: string, path: string): Promise<ExportResult>
  readImages(name: string, volumes?: readonly string[]): Promise<{ images: Map<string, Buffer>; asOf: AppliedMark }>
  diff(from: string, to: string): Promise<SnapshotDiff>
  copyInto(name: string, targetSchema: string): Promise<CopyResult>
}

/** The reads of the snapshots of one store (see SnapshotReads). */
export function createSnapshotReads(options: SnapshotReadsOptions): SnapshotReads {
  return new PgSnapshotReads(options)
}

/** An image a read names: a snapshot's pinned group, or the live image (pinTime undefined). */
interface ImageRef {
  name: string
  asOf: AppliedMark | undefined
  pinTime: number | undefined
}

class PgSnapshotReads implements SnapshotReads {
  readonly #o: SnapshotReadsOptions
  #volumes: { layouts: VolumeLayout[]; blockSize: number } | undefined

  constructor(options: SnapshotReadsOptions) {
    this.#o = options
  }

  async checkStore(client: Pick<PoolClient, 'query'> = this.#o.pool): Promise<void> {
    const res = await client.query<{ r: string | null }>('SELECT to_regclass($1)::text AS r', [
      this.#o.tables.snapshots,
    ])
    if (!res.rows[0]?.r) {
      throw new XrcError('XRC_NOT_FOUND', {
        reason: 'storeNotInitialised',
        schema: this.#o.schema,
        session: this.#o.session,
      })
    }
  }

  async export(name: string, volume: string, path: string): Promise<ExportResult> {
    return exportVolume(await this.#readCtx(name), await this.#volumeOf(volume), path)
  }

  async readImages(
    name: string,
    volumes?: readonly string[],
  ): Promise<{ images: Map<string, Buffer>; asOf: AppliedMark }> {
    const { layouts } = await this.#layout()
    const chosen = volumes === undefined ? layouts : await Promise.all(volumes.map((v) => this.#volumeOf(v)))
    const { images, asOf } = await readImages(await this.#readCtx(name), chosen)
    return { images, asOf: asOf as AppliedMark }
  }

  async diff(from: string, to: string): Promise<SnapshotDiff> {
    const { layouts, blockSize } = await this.#layout()
    const client = await this.#o.pool.connect()
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
      const a = await this.#imageRef(client, from)
      const b = await this.#imageRef(client, to)
      const zeros = Buffer.alloc(blockSize)
      const volumes: VolumeDiff[] = []
      for (const v of layouts) {
        const query = sql.changedBlocksSql(
          sql.imageRowsSql(this.#o.tables, v.id, a.pinTime),
          sql.imageRowsSql(this.#o.tables, v.id, b.pinTime),
        )
        const res = await client.query<{ block: bigint }>(query, [zeros])
        const blocks = res.rows.map((r) => safeNumber(r.block, 'block'))
        volumes.push({ volume: v.name, changedBlocks: blocks.length, ranges: blockRanges(blocks) })
      }
      await client.query('COMMIT')
      return { from: { name: a.name, asOf: a.asOf }, to: { name: b.name, asOf: b.asOf }, volumes }
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined)
      throw err
    } finally {
      client.release()
    }
  }

  async copyInto(name: string, targetSchema: string): Promise<CopyResult> {
    if (targetSchema === this.#o.schema)
      throw new XrcError('XRC_USAGE', { reason: 'copySameSchema', schema: targetSchema })
    const { layouts, blockSize } = await this.#layout()
    const target = createBlockStore({
      pool: this.#o.pool,
      schema: targetSchema,
      session: this.#o.session,
      blockSize,
      volumes: layouts.map((v) => ({ name: v.name, blocks: v.blocks })),
    })
    await target.init()
    return inTransaction(this.#o.pool, async (client) => {
      const into = storeTables(targetSchema)
      await this.#checkEmpty(client, into, targetSchema)
      const asOf = await this.#pinOf(client, name, true)
      const blocks = await client.query(copyImageSql(this.#o.tables, into), [asOf.groupTime])
      const partition = await client.query<{ p: number }>(
        `SELECT journal_partition AS p FROM ${this.#o.tables.control} WHERE session = $1`,
        [this.#o.session],
      )
      const params = [this.#o.session, asOf.groupSeq, asOf.groupTime, partition.rows[0]?.p ?? 0, asOf.journalOffset]
      await client.query(seedControlSql(into), params)
      return { name, schema: targetSchema, asOf, blocks: blocks.rowCount ?? 0 }
    })
  }

  /** XRC_USAGE unless the target store holds no group and no block (its control row locked). */
  async #checkEmpty(client: PoolClient, into: StoreTables, schema: string): Promise<void> {
    const control = await client.query<ControlRow>(readControlSql(into, true), [this.#o.session])
    const seq = control.rows[0]?.group_seq ?? 0n
    if (seq !== 0n) throw new XrcError('XRC_USAGE', { reason: 'copyTargetNotEmpty', schema, what: `group ${seq}` })
    const blocks = await client.query(`SELECT 1 FROM ${into.blocks} LIMIT 1`)
    if ((blocks.rowCount ?? 0) > 0)
      throw new XrcError('XRC_USAGE', { reason: 'copyTargetNotEmpty', schema, what: 'blocks' })
  }

  /** The group snapshot `name` pins: XRC_NOT_FOUND for none, XRC_CONFLICT for a pending one. */
  async #pinOf(client: Pick<PoolClient, 'query'>, name: string, lock = false): Promise<AppliedMark> {
    const res = await client.query<SnapshotRow>(sql.snapshotByNameSql(this.#o.tables, lock), [name])
    const row = res.rows[0]
    if (row === undefined) throw this.#o.snapshotNotFound(name)
    if (row.state !== 'active') {
      const target = row.at_group !== null ? `group ${row.at_group}` : `time ${row.at_time}`
      throw new XrcError('XRC_CONFLICT', { reason: 'snapshotPending', name, target })
    }
    return markOfControlRow({
      group_seq: row.group_seq as bigint,
      group_time: row.group_time,
      journal_offset: row.journal_offset,
    }) as AppliedMark
  }

  async #imageRef(client: PoolClient, name: string): Promise<ImageRef> {
    if (name !== LIVE_IMAGE) {
      const asOf = await this.#pinOf(client, name)
      return { name, asOf, pinTime: asOf.groupTime }
    }
    const control = await client.query<ControlRow>(readControlSql(this.#o.tables, false), [this.#o.session])
    const row = control.rows[0]
    return { name, asOf: row === undefined ? undefined : markOfControlRow(row), pinTime: undefined }
  }

  async #readCtx(name: string): Promise<VolumeReadContext> {
    const { blockSize } = await this.#layout()
    return {
      pool: this.#o.pool,
      tables: this.#o.tables,
      session: this.#o.session,
      blockSize,
      pinned: true,
      readMark: (client) => this.#pinOf(client, name),
    }
  }

  async #layout(): Promise<{ layouts: VolumeLayout[]; blockSize: number }> {
    if (this.#volumes !== undefined) return this.#volumes
    await this.checkStore()
    const res = await this.#o.pool.query<{ id: number; name: string; blocks: bigint; block_size: number }>(
      `SELECT id, name, blocks, block_size FROM ${this.#o.tables.volumes} ORDER BY id`,
    )
    const layouts = res.rows.map((r) => ({ id: r.id, name: r.name, blocks: safeNumber(r.blocks, 'volume size') }))
    this.#volumes = { layouts, blockSize: res.rows[0]?.block_size ?? 0 }
    return this.#volumes
  }

  async #volumeOf(name: string): Promise<VolumeLayout> {
    const v = (await this.#layout()).layouts.find((l) => l.name === name)
    if (v === undefined)
      throw new XrcError('XRC_NOT_FOUND', { reason: 'storeVolume', volume: name, session: this.#o.session })
    return v
  }
}

/** $1 the pin's time: the snapshot's image rows of store `from` into store `into`, volumes matched by name. */
function copyImageSql(from: StoreTables, into: StoreTables): string {
  return `INSERT INTO ${into.blocks} (volume_id, block, group_seq, group_time, data)
    SELECT tv.id, x.block, x.group_seq, x.group_time, x.data FROM (
      SELECT volume_id, block, group_seq, group_time, data FROM ${from.blocks} WHERE group_time <= $1
      UNION ALL
      SELECT volume_id, block, group_seq, group_time, data FROM ${from.snapshotVersions}
      WHERE group_time <= $1 AND superseded_time > $1
    ) x
    JOIN ${from.volumes} sv ON sv.id = x.volume_id
    JOIN ${into.volumes} tv ON tv.name = sv.name`
}

/**
 * $1 session, $2..$5 group seq, time, journal partition, journal offset:
 * the seeded store's control row at the snapshot's group, and its history
 * row (a group read again is checked against its time).
 */
function seedControlSql(into: StoreTables): string {
  return `WITH control AS (
      UPDATE ${into.control} SET group_seq = $2, group_time = $3, journal_partition = $4, journal_offset = $5,
        applied_at = now()
      WHERE session = $1
      RETURNING 1
    )
    INSERT INTO ${into.appliedGroups} (group_seq, group_time, journal_partition, journal_offset, updates)
    SELECT $2, $3, $4, $5, 0 FROM control`
}
