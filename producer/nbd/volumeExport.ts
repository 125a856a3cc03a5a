/**
 * One primary volume as an NBD export: byte-range reads and writes over
 * the primary's block API (Primary.read, Primary.write), so that each NBD
 * write is one host write: time-stamped from the session clock, durable in
 * the sidefile before it is acknowledged, mirrored like any other (marked
 * for resync while the session is suspended, as Primary.write does).
 *
 * Ordering. Every write, aligned or not, holds a block-range lock
 * (rangeLock.ts) over the whole blocks it touches while it reads its edge
 * blocks (unaligned only), merges and writes: NBD writes to overlapping
 * blocks, from any connection, are applied one after the other in the order
 * the server received them, and an unaligned write never loses the bytes of
 * another NBD write to the same block. Writes through the HTTP API do not
 * take this lock: an HTTP write to the edge block of an unaligned NBD write
 * in progress may be overwritten by the bytes that write read before it
 * (last writer wins per block, in session-clock order, as for any two
 * uncoordinated writers of one block). Aligned NBD writes never read.
 *
 * Durability. Primary.write resolves once the write is durable in the
 * controller's sidefile and written to the volume file; the sidefile keeps
 * it until the volume file is synced (the controller syncs volumes before
 * it deletes a sidefile segment, and recovery redoes the sidefile). So every
 * acknowledged write is durable: FUA needs nothing more, and FLUSH waits
 * only for the writes still in progress that were received before it.
 */
import { XrcError } from '../../lib/errors.js'
import type { Primary, WriteRequest } from '../primary.js'
import { BlockRangeLock } from './rangeLock.js'
import { blockSpan, isAligned, mergeIntoBlocks, splitRange, type BlockSpan } from './requests.js'

/**
 * What an export needs of the primary: reads and writes of whole blocks. A drill's copy of the secondary
 * (cli/drill/drillServer.ts) gives the same over its overlay, so it is served by the same export.
 */
export interface ExportPrimary {
  read: Primary['read']
  write(request: WriteRequest): Promise<unknown>
}

export interface VolumeExport {
  readonly name: string
  readonly controller: number
  /** Bytes. */
  readonly size: number
  readonly blockSize: number
  /** Largest READ or WRITE payload advertised, bytes (see maxPayloadFor). */
  readonly maxPayload: number
  read(offset: number, length: number): Promise<Buffer>
  /** One host write of `data` at `offset` (any alignment, at most maxPayload bytes). */
  write(offset: number, data: Buffer): Promise<void>
  /** Zeroes a range: one host write per maxPayload bytes, in order. */
  zero(offset: number, length: number): Promise<void>
  /** Resolves once every write begun before the call has finished (whatever its outcome). */
  flush(): Promise<void>
  /** Writes in progress. */
  readonly writesInFlight: number
  /**
   * The export as one connection sees it, for an export that gives each
   * connection a view of its own (the secondary's live image, pinned at one
   * group per connection: readOnlyExport.ts). The connection uses the view
   * once in the transmission phase and detaches it when its socket closes
   * (requests still in progress on it finish first). Absent: the export is
   * shared as it is (the primary's).
   */
  attach?(): AttachedExport
}

/** One connection's view of an export (VolumeExport.attach). */
export interface AttachedExport extends VolumeExport {
  /** The connection is gone: release what the view holds once its requests in progress have finished. */
  detach(): void
}

/**
 * The maximum payload to advertise: a write of this many bytes at any
 * offset touches at most `maxWriteBytes` of whole blocks, so it is always
 * one host write.
 */
export function maxPayloadFor(maxWriteBytes: number, blockSize: number): number {
  const blocks = Math.floor(maxWriteBytes / blockSize)
  if (blocks < 2)
    throw new XrcError('XRC_CONFIG_INVALID', {
      reason: 'nbdWriteTooSmall',
      maxWriteBytes,
      blockSize,
      setting: 'mover.maxRecordSetBytes',
    })
  return (blocks - 1) * blockSize
}

export interface VolumeExportOptions {
  primary: ExportPrimary
  name: string
  controller: number
  blocks: number
  blockSize: number
  maxWriteBytes: number
}

/** A volume of the primary as an export: reads and writes by byte range, each write one host write. */
export class PrimaryVolumeExport implements VolumeExport {
  readonly name: string
  readonly controller: number
  readonly size: number
  readonly blockSize: number
  readonly maxPayload: number
  readonly #primary: ExportPrimary
  readonly #lock = new BlockRangeLock()
  readonly #inFlight = new Set<Promise<unknown>>()
  /** Zeroing writes share one buffer of zeros: the primary never changes the data it is given. */
  #zeros: Buffer | undefined

  constructor(options: VolumeExportOptions) {
    this.#primary = options.primary
    this.name = options.name
    this.controller = options.controller
    this.blockSize = options.blockSize
    this.size = options.blocks * options.blockSize
    this.maxPayload = maxPayloadFor(options.maxWriteBytes, options.blockSize)
  }

  get writesInFlight(): number {
    return this.#inFlight.size
  }

  async read(offset: number, length: number): Promise<Buffer> {
    if (length === 0) return Buffer.alloc(0)
    const span = blockSpan(offset, length, this.blockSize)
    const blocks = await this.#primary.read(this.name, span.firstBlock, span.blockCount)
    return blocks.subarray(span.head, span.head + length)
  }

  write(offset: number, data: Buffer): Promise<void> {
    if (data.length === 0) return Promise.resolve()
    return this.#track(this.#writeLocked(offset, data))
  }

  zero(offset: number, length: number): Promise<void> {
    const run = async (): Promise<void> => {
      for (const piece of splitRange(offset, length, this.blockSize, this.maxPayload)) {
        this.#zeros ??= Buffer.alloc(this.maxPayload + this.blockSize)
        await this.#writeLocked(piece.offset, this.#zeros.subarray(0, piece.length))
      }
    }
    return this.#track(run())
  }

  async flush(): Promise<void> {
    await Promise.allSettled([...this.#inFlight])
  }

  /** Keeps `p` among the writes in progress (what flush waits for) until it settles. */
  #track<T>(p: Promise<T>): Promise<T> {
    this.#inFlight.add(p)
    const forget = (): void => void this.#inFlight.delete(p)
    p.then(forget, forget)
    return p
  }

  /** One host write of the whole blocks under the range, holding them locked; unaligned, its edges read first. */
  async #writeLocked(offset: number, data: Buffer): Promise<void> {
    const span = blockSpan(offset, data.length, this.blockSize)
    await this.#lock.hold(span.firstBlock, span.blockCount, async () => {
      const blocks = isAligned(span) ? data : mergeIntoBlocks(span, this.blockSize, data, await this.#readEdges(span))
      await this.#primary.write({ volume: this.name, block: span.firstBlock, data: blocks })
    })
  }

  /** The edge blocks an unaligned write keeps bytes of: the first when head > 0, the last when tail > 0 (once). */
  async #readEdges(span: BlockSpan): Promise<{ first?: Buffer; last?: Buffer }> {
    const lastBlock = span.firstBlock + span.blockCount - 1
    const [first, last] = await Promise.all([
      span.head > 0 ? this.#primary.read(this.name, span.firstBlock, 1) : undefined,
      span.tail > 0 && (span.head === 0 || lastBlock !== span.firstBlock)
        ? this.#primary.read(this.name, lastBlock, 1)
        : undefined,
    ])
    return { ...(first ? { first } : {}), ...(last ? { last } : first ? { last: first } : {}) }
  }
}
