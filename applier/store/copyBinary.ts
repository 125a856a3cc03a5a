/**
 * PostgreSQL's binary COPY format, both ways, for block data: writing a
 * group's blocks with COPY FROM STDIN and reading a volume with COPY TO
 * STDOUT sends each block as its raw bytes (node-postgres would send a
 * bytea[] parameter, and return a bytea column, as hex text: twice the bytes).
 *
 * Layout (https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4):
 *   header   11-byte signature "PGCOPY\n\xff\r\n\0", int32 flags (0),
 *            int32 length of a header extension, then that many bytes
 *   tuple    int16 field count, then per field: int32 byte length (-1 = NULL)
 *            followed by the field's binary representation (int4 and int8
 *            big-endian, bytea as is)
 *   trailer  int16 -1
 *
 * Pure code: no I/O, so the format is tested on its own.
 */
import { XrcError } from '../../lib/errors.js'

export const COPY_SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1')

/** One block row as the store writes it. */
export interface BlockRow {
  volumeId: number
  block: number
  data: Buffer
}

/** Columns written by {@link encodeBlockRows}, in order, for the COPY column list. */
export const BLOCK_ROW_COLUMNS = ['volume_id', 'block', 'group_seq', 'group_time', 'data'] as const

/**
 * Encodes rows of (volume_id int4, block int8, group_seq int8, group_time
 * int8, data bytea) as a binary COPY stream, yielded in chunks of about
 * `chunkBytes` so a large group is never one huge buffer.
 */
export function encodeBlockRows(
  rows: Iterable<BlockRow>,
  groupSeq: number,
  groupTime: number,
  chunkBytes = 256 * 1024,
): Generator<Buffer> {
  return encodeGroupsRows([{ rows, groupSeq, groupTime }], chunkBytes)
}

/** The rows of one group, with the group's seq and time that each row is written with. */
export interface GroupRows {
  rows: Iterable<BlockRow>
  groupSeq: number
  groupTime: number
}

/** As encodeBlockRows, the rows of several groups in one stream, each row with its own group's seq and time. */
export function* encodeGroupsRows(groups: Iterable<GroupRows>, chunkBytes = 256 * 1024): Generator<Buffer> {
  const head = Buffer.alloc(COPY_SIGNATURE.length + 8)
  COPY_SIGNATURE.copy(head)
  let pending: Buffer[] = [head]
  let pendingBytes = head.length
  const TUPLE_HEAD = 2 + (4 + 4) + 3 * (4 + 8) + 4
  for (const { rows, groupSeq, groupTime } of groups) {
    const seq = BigInt(groupSeq)
    const time = BigInt(groupTime)
    for (const row of rows) {
      const h = Buffer.allocUnsafe(TUPLE_HEAD)
      let o = h.writeInt16BE(BLOCK_ROW_COLUMNS.length, 0)
      o = h.writeInt32BE(4, o)
      o = h.writeInt32BE(row.volumeId, o)
      o = h.writeInt32BE(8, o)
      o = h.writeBigInt64BE(BigInt(row.block), o)
      o = h.writeInt32BE(8, o)
      o = h.writeBigInt64BE(seq, o)
      o = h.writeInt32BE(8, o)
      o = h.writeBigInt64BE(time, o)
      h.writeInt32BE(row.data.length, o)
      pending.push(h, row.data)
      pendingBytes += h.length + row.data.length
      if (pendingBytes >= chunkBytes) {
        yield Buffer.concat(pending, pendingBytes)
        pending = []
        pendingBytes = 0
      }
    }
  }
  const trailer = Buffer.alloc(2)
  trailer.writeInt16BE(-1)
  pending.push(trailer)
  yield Buffer.concat(pending, pendingBytes + 2)
}

/**
 * Of groups applied in one transaction, in order, each group's rows that no
 * later group of them writes again (each group's rows name a block once):
 * what the blocks table holds after all of them, written at once.
 */
export function lastWriters<G extends { rows: readonly BlockRow[] }>(groups: readonly G[]): readonly G[] {
  if (groups.length < 2) return groups // the common batch: nothing hides anything, no set of its blocks to build
  const later = new Map<number, Set<number>>()
  const out: G[] = []
  for (let i = groups.length - 1; i >= 0; i--) {
    const g = groups[i] as G
    const kept: BlockRow[] = []
    for (const row of g.rows) {
      let blocks = later.get(row.volumeId)
      if (blocks === undefined) later.set(row.volumeId, (blocks = new Set()))
      if (!blocks.has(row.block)) kept.push(row)
    }
    // after the group's own rows were judged: a group's rows never hide each other
    for (const row of kept) (later.get(row.volumeId) as Set<number>).add(row.block)
    out.push({ ...g, rows: kept })
  }
  return out.reverse()
}

/** One decoded tuple: each field's bytes, or null for SQL NULL. */
export type CopyTuple = (Buffer | null)[]

/**
 * Decodes a binary COPY stream into tuples, as the bytes arrive: memory
 * holds one chunk plus at most one partial tuple. Throws XRC_DECODE_FAILED
 * on a bad signature, a truncated stream or a missing trailer.
 */
export async function* decodeCopyBinary(
  source: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
): AsyncGenerator<CopyTuple> {
  let buf: Buffer = Buffer.alloc(0)
  let pos = 0
  let headerDone = false
  let trailerSeen = false
  for await (const chunk of source) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk
    buf = pos < buf.length ? Buffer.concat([buf.subarray(pos), bytes]) : bytes
    pos = 0
    if (!headerDone) {
      if (buf.length < COPY_SIGNATURE.length + 8) continue
      if (!buf.subarray(0, COPY_SIGNATURE.length).equals(COPY_SIGNATURE))
        throw new XrcError('XRC_DECODE_FAILED', { reason: 'copySignature' })
      const extension = buf.readInt32BE(COPY_SIGNATURE.length + 4)
      if (buf.length < COPY_SIGNATURE.length + 8 + extension) continue
      pos = COPY_SIGNATURE.length + 8 + extension
      headerDone = true
    }
    for (;;) {
      if (trailerSeen) {
        if (pos < buf.length) throw new XrcError('XRC_DECODE_FAILED', { reason: 'copyTrailingBytes' })
        break
      }
      const tuple = readTuple(buf, pos)
      if (tuple === undefined) break
      pos = tuple.next
      if (tuple.fields === 'trailer') trailerSeen = true
      else yield tuple.fields
    }
  }
  if (!trailerSeen)
    throw new XrcError('XRC_DECODE_FAILED', { reason: headerDone ? 'copyTruncated' : 'copyHeaderTruncated' })
}

/** Reads one tuple at `pos`, or undefined when its bytes have not all arrived. */
function readTuple(buf: Buffer, pos: number): { fields: CopyTuple | 'trailer'; next: number } | undefined {
  if (buf.length - pos < 2) return undefined
  const count = buf.readInt16BE(pos)
  if (count === -1) return { fields: 'trailer', next: pos + 2 }
  let p = pos + 2
  const fields: CopyTuple = []
  for (let i = 0; i < count; i++) {
    if (buf.length - p < 4) return undefined
    const len = buf.readInt32BE(p)
    p += 4
    if (len === -1) {
      fields.push(null)
      continue
    }
    if (buf.length - p < len) return undefined
    fields.push(buf.subarray(p, p + len))
    p += len
  }
  return { fields, next: p }
}
