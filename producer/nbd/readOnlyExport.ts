/**
 * A volume image served read-only over NBD (xrc snapshot serve): the
 * secondary's image as of a snapshot, or its live image as of one group.
 * The second implementation of VolumeExport beside PrimaryVolumeExport; it
 * reads whole blocks by range through a BlockRangeReader (the secondary's:
 * applier/store/imageRanges.ts) and never writes.
 *
 * Each connection reads through an image of its own (attach): the reader is
 * opened when the connection enters the transmission phase, so it is as of
 * the group the image holds at that moment, and closed once the connection
 * is gone and its reads have finished. For a snapshot every reader reads
 * the same group; for the live image each connection is pinned at the group
 * applied when it connected (one REPEATABLE READ transaction), which is why
 * a live export does not advertise NBD_FLAG_CAN_MULTI_CONN (readOnlyFlags).
 *
 * WRITE, WRITE_ZEROES and TRIM fail with NBD_EPERM (the export is advertised
 * NBD_FLAG_READ_ONLY: a client that honours it sends none); FLUSH succeeds
 * and does nothing. No cache: a client reading an image once (qemu-img
 * convert, nbdcopy) reads each block once, and PostgreSQL's buffers already
 * hold what is read again.
 */
import { XrcError } from '../../lib/errors.js'
import { ERRORS, TRANSMISSION_FLAGS, type NbdErrno } from './protocol.js'
import { blockSpan } from './requests.js'
import type { AttachedExport, VolumeExport } from './volumeExport.js'

/** One connection's image of one volume: whole blocks by range, as of one group. */
export interface BlockRangeReader {
  /** Blocks [first, first + count): count × blockSize bytes, zeros where no block was ever written. */
  read(first: number, count: number): Promise<Buffer>
  /** Releases what the reader holds once the reads in progress have finished; later reads fail. */
  close(): Promise<void>
}

export interface ReadOnlyExportOptions {
  name: string
  /** The controller the volume belongs to, for status (-1 when unknown). */
  controller: number
  blocks: number
  blockSize: number
  /** Largest READ advertised, bytes (a whole number of blocks). */
  maxPayload: number
  /** What the export serves, for messages: 'snapshot "s1" (group 12)', 'the live image'. */
  image: string
  /** Opens a connection's reader (its group fixed now); a rejection fails that connection's reads. */
  open(): Promise<BlockRangeReader>
}

/**
 * The transmission flags of a read-only export. Several connections may
 * share a snapshot's export (multi-conn: every connection reads the same
 * image), not a live one: each of its connections reads its own group.
 */
export function readOnlyFlags(multiConn: boolean): number {
  const base = TRANSMISSION_FLAGS.HAS_FLAGS | TRANSMISSION_FLAGS.READ_ONLY | TRANSMISSION_FLAGS.SEND_FLUSH
  return multiConn ? base | TRANSMISSION_FLAGS.CAN_MULTI_CONN : base
}

/** The refusal of a write-like command: XRC_USAGE carrying NBD_EPERM. */
function readOnlyError(exportName: string, image: string, command: string): XrcError & { nbdErrno: NbdErrno } {
  const err = new XrcError('XRC_USAGE', { reason: 'nbdReadOnly', command, export: exportName, image })
  return Object.assign(err, { nbdErrno: ERRORS.EPERM })
}

/** A volume image served read-only; each connection reads through its own attach(). */
export class ReadOnlyVolumeExport implements VolumeExport {
  readonly name: string
  readonly controller: number
  readonly size: number
  readonly blockSize: number
  readonly maxPayload: number
  readonly writesInFlight = 0
  protected readonly options: ReadOnlyExportOptions

  constructor(options: ReadOnlyExportOptions) {
    this.options = options
    this.name = options.name
    this.controller = options.controller
    this.blockSize = options.blockSize
    this.size = options.blocks * options.blockSize
    this.maxPayload = options.maxPayload
  }

  attach(): AttachedExport {
    return new AttachedReadOnlyExport(this.options, this.options.open())
  }

  /** A read outside any connection: through a reader opened for it alone. */
  async read(offset: number, length: number): Promise<Buffer> {
    const view = this.attach()
    try {
      return await view.read(offset, length)
    } finally {
      view.detach()
    }
  }

  write(): Promise<void> {
    return Promise.reject(readOnlyError(this.name, this.options.image, 'WRITE'))
  }

  zero(): Promise<void> {
    return Promise.reject(readOnlyError(this.name, this.options.image, 'WRITE_ZEROES or TRIM'))
  }

  flush(): Promise<void> {
    return Promise.resolve()
  }
}

/** One connection's view: its reader, opened at attach and closed at detach. */
class AttachedReadOnlyExport extends ReadOnlyVolumeExport implements AttachedExport {
  readonly #reader: Promise<BlockRangeReader>

  constructor(options: ReadOnlyExportOptions, reader: Promise<BlockRangeReader>) {
    super(options)
    this.#reader = reader
    // a reader that failed to open fails the reads that await it; with none, nobody else is told
    reader.catch(() => undefined)
  }

  override attach(): AttachedExport {
    return this
  }

  override async read(offset: number, length: number): Promise<Buffer> {
    if (length === 0) return Buffer.alloc(0)
    const span = blockSpan(offset, length, this.blockSize)
    const blocks = await (await this.#reader).read(span.firstBlock, span.blockCount)
    return blocks.subarray(span.head, span.head + length)
  }

  detach(): void {
    this.#reader.then((r) => r.close()).catch(() => undefined)
  }
}
