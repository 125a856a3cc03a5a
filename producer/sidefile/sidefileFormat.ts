/**
 * Byte layout of sidefile segments: pure framing and parsing, no I/O.
 *
 * A sidefile is a folder of segment files named by the logical position
 * (byte offset in the whole sidefile) of their first entry, 20 decimal
 * digits: `00000000000000524288.seg`. A segment is a run of entries:
 *
 *   bytes 0-3    magic 0x58524331 ("XRC1"), big-endian
 *   bytes 4-7    payload length L, big-endian uint32
 *   bytes 8-11   CRC-32 of bytes 4-7 followed by the payload, big-endian
 *   bytes 12-    payload (L bytes, opaque here; see sidefileEntry.ts)
 *
 * The magic lets recovery tell a torn tail (nothing valid after the bad
 * entry: truncate) from corruption in the middle (a valid entry follows:
 * refuse, naming file and offset).
 */
import { crc32 } from 'node:zlib'

export const ENTRY_MAGIC = 0x58524331
export const ENTRY_HEADER_BYTES = 12
/** Largest payload one entry can frame. */
export const MAX_PAYLOAD_BYTES = 0xffffffff

const SEGMENT_NAME = /^(\d{20})\.seg$/

/** File name of the segment whose first entry sits at logical position `base`. */
export function segmentFileName(base: number): string {
  return `${base.toString().padStart(20, '0')}.seg`
}

/** The base position named by a segment file name, or undefined for any other file. */
export function parseSegmentFileName(name: string): number | undefined {
  const m = SEGMENT_NAME.exec(name)
  return m ? Number(m[1]) : undefined
}

/** The 12-byte header that precedes `payload` on disk. */
export function entryHeader(payload: Buffer): Buffer {
  if (payload.length > MAX_PAYLOAD_BYTES)
    throw new RangeError(`sidefile payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD_BYTES}`)
  const header = Buffer.allocUnsafe(ENTRY_HEADER_BYTES)
  header.writeUInt32BE(ENTRY_MAGIC, 0)
  header.writeUInt32BE(payload.length, 4)
  header.writeUInt32BE(crc32(payload, crc32(header.subarray(4, 8))), 8)
  return header
}

export type ParsedEntry =
  /** A whole, valid entry: payload at [offset + 12, offset + total). */
  | { kind: 'entry'; total: number; payload: Buffer }
  /** The buffer ends inside this entry (its header or its payload). */
  | { kind: 'incomplete'; need: number }
  /** Bad magic or CRC. */
  | { kind: 'bad'; reason: string }

/** Parses the entry at `offset` of `buf` (a window of a segment). */
export function parseEntryAt(buf: Buffer, offset: number): ParsedEntry {
  if (buf.length - offset < ENTRY_HEADER_BYTES) return { kind: 'incomplete', need: ENTRY_HEADER_BYTES }
  const magic = buf.readUInt32BE(offset)
  if (magic !== ENTRY_MAGIC) return { kind: 'bad', reason: `bad magic 0x${magic.toString(16).padStart(8, '0')}` }
  const length = buf.readUInt32BE(offset + 4)
  const total = ENTRY_HEADER_BYTES + length
  if (buf.length - offset < total) return { kind: 'incomplete', need: total }
  const payload = buf.subarray(offset + ENTRY_HEADER_BYTES, offset + total)
  const expected = buf.readUInt32BE(offset + 8)
  const actual = crc32(payload, crc32(buf.subarray(offset + 4, offset + 8)))
  if (actual !== expected)
    return {
      kind: 'bad',
      reason: `CRC mismatch (stored 0x${expected.toString(16)}, computed 0x${actual.toString(16)})`,
    }
  return { kind: 'entry', total, payload }
}

/**
 * Offset of the first whole valid entry strictly after `from` in
 * `buf`, if any: evidence that damage at `from` is not a torn tail.
 */
export function findValidEntryAfter(buf: Buffer, from: number): number | undefined {
  const magic = Buffer.allocUnsafe(4)
  magic.writeUInt32BE(ENTRY_MAGIC, 0)
  for (let at = buf.indexOf(magic, from + 1); at >= 0; at = buf.indexOf(magic, at + 1)) {
    if (parseEntryAt(buf, at).kind === 'entry') return at
  }
  return undefined
}

export type SegmentScan =
  | { kind: 'clean'; ends: number[] }
  /** Entries up to `validBytes` are sound; what follows is a torn tail (no valid entry after it). */
  | { kind: 'torn'; ends: number[]; validBytes: number; reason: string }
  /** A bad entry at `offset` with a valid entry after it: not a torn tail. */
  | { kind: 'corrupt'; ends: number[]; offset: number; reason: string }

/**
 * Checks a whole segment. `ends` are the offsets (in the segment) just past
 * each valid entry, in order.
 */
export function scanSegment(buf: Buffer): SegmentScan {
  const ends: number[] = []
  let offset = 0
  while (offset < buf.length) {
    const parsed = parseEntryAt(buf, offset)
    if (parsed.kind === 'entry') {
      offset += parsed.total
      ends.push(offset)
      continue
    }
    const reason =
      parsed.kind === 'bad' ? parsed.reason : `entry of ${parsed.need} bytes cut off at ${buf.length - offset}`
    const next = findValidEntryAfter(buf, offset)
    if (next !== undefined)
      return { kind: 'corrupt', ends, offset, reason: `${reason}; a valid entry follows at offset ${next}` }
    return { kind: 'torn', ends, validBytes: offset, reason }
  }
  return { kind: 'clean', ends }
}
