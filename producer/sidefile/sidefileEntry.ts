/**
 * The payload of a controller's sidefile entry: one host write, or one run
 * of blocks a resync read from the volume, stamped with its seq and time;
 * or a resync window event (schemas/resyncWindow.ts), which takes no seq.
 * Pure encode/decode.
 *
 *   byte 0        kind: 1 = host write, 2 = resync read (sent as RESYNC)
 *   bytes 1-8     seq, big-endian uint64
 *   bytes 9-16    time (µs since the epoch, session clock), big-endian uint64
 *   bytes 17-20   first block, big-endian uint32
 *   byte 21       volume name length n (names are at most 63 ASCII characters)
 *   bytes 22-     volume name (n bytes), then the data (whole blocks)
 *
 * A window event (kind 3), sent as a HEARTBEAT record set that carries it:
 *
 *   byte 0        kind: 3 = resync window event
 *   bytes 1-8     next seq (the seq the controller's next write takes), big-endian uint64
 *   bytes 9-16    time (µs, session clock), big-endian uint64
 *   byte 17       event: 1 = BEGIN, 2 = END
 *   bytes 18-25   epoch, big-endian uint64
 *   bytes 26-33   consistentUntil S, big-endian uint64
 *   bytes 34-41   blocks, big-endian uint64
 *   byte 42       reason length n, then the reason (n bytes, latin1)
 *
 * The framing around it (magic, length, CRC) is sidefileFormat.ts.
 */
import { XrcError } from '../../lib/errors.js'
import type { Update } from '../../schemas/recordSet.js'
import { RESYNC_WINDOW_REASON_MAX, type ResyncWindow } from '../../schemas/resyncWindow.js'

const KIND_WRITE = 1
const KIND_RESYNC = 2
const KIND_WINDOW = 3
const FIXED_BYTES = 22
const WINDOW_FIXED_BYTES = 43

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

/** A resync window event as the sidefile holds it: the heartbeat that will carry it (next seq, time) and the event. */
export interface WindowEntry {
  nextSeq: number
  time: number
  window: ResyncWindow
}

/** A decoded entry: a write or resync read, or a window event. */
export type DecodedEntry = { kind: EntryKind; update: Update } | { kind: 'WINDOW'; entry: WindowEntry }

/** Payload size of a window event. */
export function windowEntrySize(window: ResyncWindow): number {
  return WINDOW_FIXED_BYTES + Buffer.byteLength(window.reason, 'latin1')
}

export function encodeWindowEntry(entry: WindowEntry): Buffer {
  const { window } = entry
  const reason = Buffer.from(window.reason, 'latin1')
  if (reason.length > RESYNC_WINDOW_REASON_MAX)
    throw new RangeError(`a resync window reason of ${reason.length} bytes exceeds ${RESYNC_WINDOW_REASON_MAX}`)
  const buf = Buffer.allocUnsafe(WINDOW_FIXED_BYTES + reason.length)
  buf.writeUInt8(KIND_WINDOW, 0)
  buf.writeBigUInt64BE(BigInt(entry.nextSeq), 1)
  buf.writeBigUInt64BE(BigInt(entry.time), 9)
  buf.writeUInt8(window.event === 'BEGIN' ? 1 : 2, 17)
  buf.writeBigUInt64BE(BigInt(window.epoch), 18)
  buf.writeBigUInt64BE(BigInt(window.consistentUntil), 26)
  buf.writeBigUInt64BE(BigInt(window.blocks), 34)
  buf.writeUInt8(reason.length, 42)
  reason.copy(buf, WINDOW_FIXED_BYTES)
  return buf
}

/** Decodes a write or resync payload; `where` names it in the error (file and position). */
export function decodeWriteEntry(payload: Buffer, where: string): Update {
  const decoded = decodeEntry(payload, where)
  if (decoded.kind === 'WINDOW') throw new XrcError('XRC_SIDEFILE_CORRUPT', { reason: 'windowEntry', where })
  return decoded.update
}

/** Decodes a payload with its kind; `where` names it in the error (file and position). */
export function decodeEntry(payload: Buffer, where: string): DecodedEntry {
  if (payload.length > 0 && payload.readUInt8(0) === KIND_WINDOW)
    return { kind: 'WINDOW', entry: decodeWindow(payload, where) }
  const kind = payload.length < FIXED_BYTES ? undefined : payload.readUInt8(0)
  if (kind !== KIND_WRITE && kind !== KIND_RESYNC) {
    throw new XrcError('XRC_SIDEFILE_CORRUPT', {
      reason: 'notWriteEntry',
      where,
      bytes: payload.length,
      kind: String(payload[0]),
    })
  }
  const n = payload.readUInt8(21)
  if (payload.length < FIXED_BYTES + n) throw new XrcError('XRC_SIDEFILE_CORRUPT', { reason: 'shortEntry', where })
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

function decodeWindow(payload: Buffer, where: string): WindowEntry {
  const event = payload.length < WINDOW_FIXED_BYTES ? undefined : payload.readUInt8(17)
  const n = event === undefined ? 0 : payload.readUInt8(42)
  if ((event !== 1 && event !== 2) || payload.length !== WINDOW_FIXED_BYTES + n)
    throw new XrcError('XRC_SIDEFILE_CORRUPT', {
      reason: 'notWindowEntry',
      where,
      bytes: payload.length,
      event: String(event),
    })
  return {
    nextSeq: Number(payload.readBigUInt64BE(1)),
    time: Number(payload.readBigUInt64BE(9)),
    window: {
      event: event === 1 ? 'BEGIN' : 'END',
      epoch: Number(payload.readBigUInt64BE(18)),
      consistentUntil: Number(payload.readBigUInt64BE(26)),
      blocks: Number(payload.readBigUInt64BE(34)),
      reason: payload.toString('latin1', WINDOW_FIXED_BYTES, WINDOW_FIXED_BYTES + n),
    },
  }
}
