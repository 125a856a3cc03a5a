/**
 * Reading volume images out of the secondary. Volumes are read inside one
 * REPEATABLE READ transaction together with the control row, so an image is
 * exactly the one as of the group the control row names (an apply committing
 * meanwhile is not seen), and streamed with binary COPY in block order, so
 * memory does not grow with the volume. A snapshot's image is read the same
 * way, as of the group it pins (snapshotSql.imageRowsSql); the order check
 * on the rows also catches a block seen twice.
 */
import { randomUUID } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { rename, unlink } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import copyStreams from 'pg-copy-streams'
import { XrcError } from '../../lib/errors.js'
import type { Pool, PoolClient } from '../../lib/postgres.js'
import type { StoreTables } from './blockStoreDdl.js'
import { decodeCopyBinary } from './copyBinary.js'
import { imageRowsSql } from './snapshotSql.js'
import type { AppliedMark } from '../journal/index.js'
import type { VolumeLayout } from './groupValidation.js'

/** One stored block of a volume. */
export interface StoredBlock {
  block: number
  data: Buffer
}

/** What an export wrote, and as of which group. */
export interface ExportResult {
  volume: string
  path: string
  bytes: number
  /** Blocks that had a row (the rest were written as zeros). */
  storedBlocks: number
  /** The group the image is consistent with; undefined for a store that applied none. */
  asOf: AppliedMark | undefined
}

export interface VolumeReadContext {
  pool: Pool
  tables: StoreTables
  session: string
  blockSize: number
  /**
   * Reads the group the image is as of, with the given client (inside the
   * caller's snapshot): the control row's, or a snapshot's pinned group.
   */
  readMark: (client: PoolClient) => Promise<AppliedMark | undefined>
  /** The image is the one pinned at the group readMark gives (a snapshot's), not the live one. */
  pinned?: boolean
}

/** A REPEATABLE READ view of the store: the control row and every block as of one moment. */
export interface StoreSnapshot {
  /** The group the snapshot holds; undefined for a store that applied none. */
  asOf: AppliedMark | undefined
  /**
   * The stored blocks of `volume` in block order. Consume each one to its end
   * (or throw) before asking for the next: they share one connection.
   */
  blocks(volume: VolumeLayout): AsyncIterable<StoredBlock>
}

/**
 * Runs `fn` inside one REPEATABLE READ READ ONLY transaction: everything it
 * reads (the control row, any number of volumes) is as of the same group.
 * A group committing meanwhile is not seen, and the snapshot blocks nothing.
 */
export async function withSnapshot<T>(ctx: VolumeReadContext, fn: (snapshot: StoreSnapshot) => Promise<T>): Promise<T> {
  const client = await ctx.pool.connect()
  let broken: Error | undefined
  let copy: ReturnType<typeof copyStreams.to> | undefined
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
    // the first query fixes the snapshot: the control row and the blocks are read in it
    const asOf = await ctx.readMark(client)
    const snapshot: StoreSnapshot = {
      asOf,
      blocks(volume) {
        // volume.id is an integer from the volumes table; COPY takes no parameters
        const rows =
          ctx.pinned === true && asOf !== undefined
            ? `SELECT block, data FROM (${imageRowsSql(ctx.tables, volume.id, asOf.groupTime)}) r ORDER BY block`
            : `SELECT block, data FROM ${ctx.tables.blocks} WHERE volume_id = ${Math.trunc(volume.id)} ORDER BY block`
        copy = client.query(copyStreams.to(`COPY (${rows}) TO STDOUT (FORMAT binary)`))
        return storedBlocks(decodeCopyBinary(copy), volume, ctx.blockSize)
      },
    }
    const result = await fn(snapshot)
    await client.query('COMMIT')
    return result
  } catch (err) {
    if (copy !== undefined && !copy.readableEnded) {
      // stopped mid-COPY: the connection is unusable, drop it
      copy.destroy()
      broken = err instanceof Error ? err : new Error(String(err))
    } else {
      await client.query('ROLLBACK').catch((e: unknown) => (broken = e instanceof Error ? e : new Error(String(e))))
    }
    throw err
  } finally {
    client.release(broken)
  }
}

/** Turns COPY tuples (block int8, data bytea) into blocks, checking order, range and size. */
async function* storedBlocks(
  tuples: AsyncIterable<(Buffer | null)[]>,
  volume: VolumeLayout,
  blockSize: number,
): AsyncGenerator<StoredBlock> {
  let previous = -1
  for await (const [blockField, data] of tuples) {
    if (!blockField || blockField.length !== 8 || !data)
      throw new XrcError('XRC_DECODE_FAILED', { reason: 'blockRowShape', volume: volume.name })
    const block = Number(blockField.readBigInt64BE(0))
    if (block <= previous || block >= volume.blocks || data.length !== blockSize) {
      throw new XrcError('XRC_INVALID_RECORD', {
        reason: 'storedBlock',
        volume: volume.name,
        block,
        blockSize,
        bytes: data.length,
      })
    }
    previous = block
    yield { block, data }
  }
}

/**
 * Whole images of `volumes` in memory (blocks never written are zeros), all
 * as of one group: what a consistency checker compares across volumes.
 */
export async function readImages(
  ctx: VolumeReadContext,
  volumes: readonly VolumeLayout[],
): Promise<{ images: Map<string, Buffer>; asOf: AppliedMark | undefined }> {
  return withSnapshot(ctx, async (snapshot) => {
    const images = new Map<string, Buffer>()
    for (const volume of volumes) {
      const image = Buffer.alloc(volume.blocks * ctx.blockSize)
      for await (const b of snapshot.blocks(volume)) b.data.copy(image, b.block * ctx.blockSize)
      images.set(volume.name, image)
    }
    return { images, asOf: snapshot.asOf }
  })
}

/** Most bytes gathered before one write to the export file. */
const WRITE_CHUNK_BYTES = 1024 * 1024

/**
 * The image bytes of a volume in order, zeros where no block is stored, in
 * chunks of about 1 MiB; the consumer's pace drives the reads.
 */
export async function* imageChunks(
  blocks: AsyncIterable<StoredBlock>,
  volumeBlocks: number,
  blockSize: number,
): AsyncGenerator<Buffer> {
  const zeros = Buffer.alloc(Math.max(WRITE_CHUNK_BYTES, blockSize))
  let pending: Buffer[] = []
  let pendingBytes = 0
  let next = 0
  function* flush(): Generator<Buffer> {
    if (pendingBytes > 0) yield pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingBytes)
    pending = []
    pendingBytes = 0
  }
  function* zeroFill(upTo: number): Generator<Buffer> {
    let bytes = (upTo - next) * blockSize
    if (bytes === 0) return
    yield* flush()
    while (bytes > 0) {
      const n = Math.min(bytes, zeros.length)
      yield n === zeros.length ? zeros : zeros.subarray(0, n)
      bytes -= n
    }
  }
  for await (const b of blocks) {
    yield* zeroFill(b.block)
    pending.push(b.data)
    pendingBytes += b.data.length
    next = b.block + 1
    if (pendingBytes >= WRITE_CHUNK_BYTES) yield* flush()
  }
  yield* flush()
  yield* zeroFill(volumeBlocks)
}

/**
 * Writes the image of `volume` to `path`: first to a temporary file beside
 * it, renamed over `path` once complete, so a failed export never leaves a
 * file that looks whole.
 */
export async function exportVolume(ctx: VolumeReadContext, volume: VolumeLayout, path: string): Promise<ExportResult> {
  const partial = `${path}.partial-${randomUUID()}`
  let storedBlocks = 0
  try {
    const asOf = await withSnapshot(ctx, async (snapshot) => {
      const blocks = snapshot.blocks(volume)
      const counted = (async function* () {
        for await (const b of blocks) {
          storedBlocks++
          yield b
        }
      })()
      await pipeline(Readable.from(imageChunks(counted, volume.blocks, ctx.blockSize)), createWriteStream(partial))
      return snapshot.asOf
    })
    await rename(partial, path)
    return { volume: volume.name, path, bytes: volume.blocks * ctx.blockSize, storedBlocks, asOf }
  } catch (err) {
    // the partial file may not exist yet; the export's own error is the one to report
    await unlink(partial).catch(() => undefined)
    throw err
  }
}
