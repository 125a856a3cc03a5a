/**
 * Reading the secondary's images by block range, for serving them over NBD
 * (xrc snapshot serve: producer/nbd/readOnlyExport.ts reads through these).
 *
 * A snapshot's image never changes while the snapshot exists (snapshots.ts),
 * so its reads need no transaction: each is one statement reading the
 * current rows written at or before the pin and the kept versions it sees
 * (as snapshotSql.imageRowsSql), and whether the snapshot row still exists,
 * all on the statement's one view. A delete removes the row and the versions
 * it frees in one transaction, so a read sees both or neither: once the
 * snapshot is gone its reads fail (XRC_NOT_FOUND) rather than return a mix.
 * Nothing is locked: a delete does not wait for a served snapshot.
 *
 * The live image is read inside one REPEATABLE READ READ ONLY transaction
 * on a client of its own, opened with the control row: every read is as of
 * the group applied when it opened, whatever commits meanwhile, until
 * close(). Such a transaction holds back the vacuum of the rows it sees, and
 * a pool client, for as long as it is open (xrc snapshot serve bounds the
 * connections of a live export by its pool). While a resync is being
 * applied the live image is inconsistent: opening it fails with XRC_CONFLICT.
 */
import { XrcError } from '../../lib/errors.js'
import type { Pool, PoolClient } from '../../lib/postgres.js'
import type { AppliedMark } from '../journal/index.js'
import { resyncTables } from '../resync/index.js'
import { markOfControlRow, safeNumber, type ControlRow } from './applyRules.js'
import { storeTables, type StoreTables } from './blockStoreDdl.js'
import type { VolumeLayout } from './groupValidation.js'
import { readImageConsistency } from './snapshotApply.js'
import { snapshotByNameSql } from './snapshotSql.js'
import { pinOfRow, type SnapshotRow } from './snapshots.js'
import { readControlSql } from './storeSql.js'

/** One image of the secondary (a snapshot's, or the live one as of a group), read by block range. */
export interface RangeImage {
  /** The group the image is as of; undefined for a store that applied none. */
  readonly asOf: AppliedMark | undefined
  /** Blocks [first, first + count) of `volume`: count × blockSize bytes, zeros where no block is stored. */
  read(volume: VolumeLayout, first: number, count: number): Promise<Buffer>
  /** Releases what the image holds (the live image's transaction) once its reads in progress finished. */
  close(): Promise<void>
}

/** The store's volumes, as the volumes table has them. */
export interface StoreLayout {
  blockSize: number
  volumes: VolumeLayout[]
}

export interface ImageRanges {
  /** XRC_NOT_FOUND unless the schema holds an init()ed store. */
  layout(): Promise<StoreLayout>
  /** A snapshot's image: XRC_NOT_FOUND for none, XRC_CONFLICT for a pending one. */
  snapshot(name: string): Promise<RangeImage>
  /** The live image as of the group applied now, until close(); XRC_CONFLICT while it is inconsistent. */
  live(): Promise<RangeImage>
}

export interface ImageRangesOptions {
  pool: Pool
  schema: string
  session: string
}

export function createImageRanges(options: ImageRangesOptions): ImageRanges {
  return new PgImageRanges(options)
}

interface BlockRow {
  block: bigint | null
  data: Buffer | null
}

/** Rows at block offsets from `first` laid into count × blockSize bytes of zeros. */
function assemble(rows: readonly BlockRow[], first: number, count: number, blockSize: number): Buffer {
  const out = Buffer.alloc(count * blockSize)
  for (const r of rows) {
    if (r.block === null || r.data === null) continue
    const at = safeNumber(r.block, 'block') - first
    if (at < 0 || at >= count || r.data.length !== blockSize)
      throw new XrcError('XRC_INVALID_RECORD', {
        reason: 'storedBlock',
        volume: '?',
        block: Number(r.block),
        blockSize,
        bytes: r.data.length,
      })
    r.data.copy(out, at * blockSize)
  }
  return out
}

/**
 * $1 volume id, $2 first block, $3 end block (excluded), $4 pin time, $5 snapshot id: one row per stored block of
 * the range as of the pin, each with alive = true; or one row with block null: alive false when the snapshot
 * is gone, true when the range has no stored block.
 */
export function snapshotRangeSql(t: StoreTables): string {
  return `SELECT s.alive, r.block, r.data
    FROM (SELECT EXISTS (SELECT 1 FROM ${t.snapshots} WHERE id = $5 AND state = 'active') AS alive) s
    LEFT JOIN (
      SELECT block, data FROM ${t.blocks}
      WHERE volume_id = $1 AND block >= $2 AND block < $3 AND group_time <= $4
      UNION ALL
      SELECT block, data FROM ${t.snapshotVersions}
      WHERE volume_id = $1 AND block >= $2 AND block < $3 AND group_time <= $4 AND superseded_time > $4
    ) r ON s.alive`
}

/** $1 volume id, $2 first block, $3 end block (excluded): the current rows of the range. */
export function liveRangeSql(t: StoreTables): string {
  return `SELECT block, data FROM ${t.blocks} WHERE volume_id = $1 AND block >= $2 AND block < $3`
}

class PgImageRanges implements ImageRanges {
  readonly #o: ImageRangesOptions
  readonly #tables: StoreTables
  #layout: Promise<StoreLayout> | undefined

  constructor(options: ImageRangesOptions) {
    this.#o = options
    this.#tables = storeTables(options.schema)
  }

  layout(): Promise<StoreLayout> {
    this.#layout ??= this.#readLayout()
    return this.#layout
  }

  async snapshot(name: string): Promise<RangeImage> {
    const { blockSize } = await this.layout()
    const res = await this.#o.pool.query<SnapshotRow>(snapshotByNameSql(this.#tables), [name])
    const row = res.rows[0]
    const where = { name, session: this.#o.session, schema: this.#o.schema }
    if (row === undefined) throw new XrcError('XRC_NOT_FOUND', { reason: 'snapshot', ...where })
    const asOf = pinOfRow(row)
    if (asOf === undefined) {
      const target = row.at_group !== null ? `group ${row.at_group}` : `time ${row.at_time}`
      throw new XrcError('XRC_CONFLICT', { reason: 'snapshotPending', name, target })
    }
    const pool = this.#o.pool
    const sql = snapshotRangeSql(this.#tables)
    return {
      asOf,
      async read(volume, first, count) {
        const params = [volume.id, first, first + count, asOf.groupTime, row.id]
        const rows = (await pool.query<BlockRow & { alive: boolean }>(sql, params)).rows
        if (rows[0]?.alive !== true) throw new XrcError('XRC_NOT_FOUND', { reason: 'servedSnapshotGone', ...where })
        return assemble(rows, first, count, blockSize)
      },
      close: () => Promise.resolve(),
    }
  }

  async live(): Promise<RangeImage> {
    const { blockSize } = await this.layout()
    const client = await this.#o.pool.connect()
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
      // the first query fixes the transaction's view: the control row and every read after it are as of one group
      const control = await client.query<ControlRow>(readControlSql(this.#tables, false), [this.#o.session])
      const { image, fallback } = await readImageConsistency(client, resyncTables(this.#o.schema), this.#o.session)
      if (image === 'inconsistent')
        throw new XrcError('XRC_CONFLICT', {
          reason: 'liveImageInconsistent',
          session: this.#o.session,
          groupSeq: fallback?.groupSeq ?? 0,
        })
      const row = control.rows[0]
      return new LiveImage(client, liveRangeSql(this.#tables), blockSize, row && markOfControlRow(row))
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined)
      client.release()
      throw err
    }
  }

  async #readLayout(): Promise<StoreLayout> {
    const found = await this.#o.pool.query<{ r: string | null }>('SELECT to_regclass($1)::text AS r', [
      this.#tables.snapshots,
    ])
    if (!found.rows[0]?.r)
      throw new XrcError('XRC_NOT_FOUND', {
        reason: 'storeNotInitialised',
        schema: this.#o.schema,
        session: this.#o.session,
      })
    const res = await this.#o.pool.query<{ id: number; name: string; blocks: bigint; block_size: number }>(
      `SELECT id, name, blocks, block_size FROM ${this.#tables.volumes} ORDER BY id`,
    )
    const volumes = res.rows.map((r) => ({ id: r.id, name: r.name, blocks: safeNumber(r.blocks, 'volume size') }))
    return { blockSize: res.rows[0]?.block_size ?? 0, volumes }
  }
}

/** The live image in one REPEATABLE READ transaction on its own client (see the file comment). */
class LiveImage implements RangeImage {
  readonly #client: PoolClient
  readonly #sql: string
  readonly #blockSize: number
  readonly #reads = new Set<Promise<unknown>>()
  #closed: Promise<void> | undefined

  constructor(
    client: PoolClient,
    sql: string,
    blockSize: number,
    readonly asOf: AppliedMark | undefined,
  ) {
    this.#client = client
    this.#sql = sql
    this.#blockSize = blockSize
  }

  read(volume: VolumeLayout, first: number, count: number): Promise<Buffer> {
    if (this.#closed !== undefined)
      return Promise.reject(new XrcError('XRC_CLOSED', { reason: 'default', component: 'the live image reader' }))
    const p = this.#client
      .query<BlockRow>(this.#sql, [volume.id, first, first + count])
      .then((res) => assemble(res.rows, first, count, this.#blockSize))
    this.#reads.add(p)
    const forget = (): void => void this.#reads.delete(p)
    p.then(forget, forget)
    return p
  }

  close(): Promise<void> {
    this.#closed ??= this.#end()
    return this.#closed
  }

  async #end(): Promise<void> {
    await Promise.allSettled([...this.#reads])
    let broken: Error | undefined
    await this.#client.query('ROLLBACK').catch((e: unknown) => (broken = e instanceof Error ? e : new Error(String(e))))
    this.#client.release(broken)
  }
}
