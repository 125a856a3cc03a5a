/**
 * The payload of a controller's sidefile entry: one host write, or one run
 * of blocks a resync read from the volume, stamped with its seq and time.
 * Pure encode/decode.
 *
 *   byte 0        kind: 1 = host write, 2 = resync read (sent as RESYNC)
 *   bytes 1-8     seq, big-endian uint64
 *   bytes 9-16    time (µs since the epoch, session clock), big-endian uint64
 *   bytes 17-20   first block, big-endian uint32
 *   byte 21       volume name length n (names are at most 63 ASCII characters)
 *   bytes 22-     volume name (n bytes), then the data (whole blocks)
 *
 * The framing around it (magic, length, CRC) is sidefileFormat.ts.
 */
import { XrcError } from '../../lib/errors.js'
import type { Update } from '../../schemas/recordSet.js'

const KIND_WRITE = 1
const KIND_RESYNC = 2
const FIXED_BYTES = 22

/** What an entry carries: a host write (an UPDATES record) or a resync read (a RESYNC record). */
export type EntryKind = 'UPDATES' | 'RESYNC'

/** Payload size of a write of `dataBytes` to `volume`: known before the seq is taken. */
export function writeEntrySize(volume: string, dataBytes: number): number {
  return FIXED_BYTES + Buffer.byteLength(volume, 'latin1') + dataBytes
}

export function encodeWriteEntry(update: Update, kind: EntryKind = 'UPDATES'): Buffer {
  const name = Buffer.from(update.volume, 'latin1')
  if (name.length > 255) throw new RangeError(`volume name of ${name.length} bytes cannot be framed`)
  const buf = Buffer.allocUnsafe(FIXED_BYTES + name.length + update.data.length)
  buf.writeUInt8(kind === 'RESYNC' ? KIND_RESYNC : KIND_WRITE, 0)
  buf.writeBigUInt64BE(BigInt(update.seq), 1)
  buf.writeBigUInt64BE(BigInt(update.time), 9)
  buf.writeUInt32BE(update.block, 17)
  buf.writeUInt8(name.length, 21)
  name.copy(buf, FIXED_BYTES)
  update.data.copy(buf, FIXED_BYTES + name.length)
  return buf
}

/** Decodes a payload of either kind; `where` names it in the error (file and position). */
export function decodeWriteEntry(payload: Buffer, where: string): Update {
  return decodeEntry(payload, where).update
}

/** Decodes a payload with its kind; `where` names it in the error (file and position). */
export function decodeEntry(payload: Buffer, where: string): { kind: EntryKind; update: Update } {
  const kind = payload.length < FIXED_BYTES ? undefined : payload.readUInt8(0)
  if (kind !== KIND_WRITE && kind !== KIND_RESYNC) {
    throw new XrcError(
      'XRC_SIDEFILE_CORRUPT',
      `sidefile entry ${where} is not a write entry (${payload.length} bytes, kind ${payload[0]})`,
    )
  }
  const n = payload.readUInt8(21)
  if (payload.length < FIXED_BYTES + n)
    throw new XrcError('XRC_SIDEFILE_CORRUPT', `sidefile entry ${where} is shorter than its volume name`)
  return {
    kind: kind === KIND_RESYNC ? 'RESYNC' : 'UPDATES',
    update: {
      seq: Number(payload.readBigUInt64BE(1)),
      time: Number(payload.readBigUInt64BE(9)),
      block: payload.readUInt32BE(17),
      volume: payload.toString('latin1', FIXED_BYTES, FIXED_BYTES + n),
      data: payload.subarray(FIXED_BYTES + n),
    },
  }
}
