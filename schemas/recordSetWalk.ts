/**
 * A zero-copy walk of a record set's Avro body (RECORD_SET_SCHEMA, the
 * version this process registered): the header fields are read into one
 * object per record set, the updates into columns of numbers (seq, time,
 * block, where the volume name and the data lie in the buffer), with no
 * object per update and no copy of block data. The mover walks every
 * record set of the schema id it knows and decodes the rest with avsc
 * (another writer schema needs the resolver).
 *
 * It accepts exactly the buffers avsc's decode accepts and reads the same
 * values (schemas/recordSetWalk.test.ts checks both against avsc on random
 * record sets and corruptions): varints are read with avsc's arithmetic, a
 * long beyond +-(2^53 - 2) is refused as avsc refuses it, an int is not
 * range-checked (avsc does not), a negative length, an unknown enum symbol
 * or union branch, truncation and trailing bytes are refused. Avsc reads
 * on past the end of a truncated buffer and fails at the end; the walk
 * stops at the first byte missing and names the field. Every refusal is an
 * XRC_DECODE_FAILED, as the decode's are.
 */
import { XrcError } from '../lib/errors.js'
import type { RecordSet, RecordSetKind, Update } from './recordSet.js'
import type { ResyncWindow, ResyncWindowEvent } from './resyncWindow.js'
import type { RecordSetView, UpdateList } from './updateList.js'
import { WIRE_HEADER_BYTES } from './wireSizes.js'

const KINDS: readonly RecordSetKind[] = ['UPDATES', 'HEARTBEAT', 'RESYNC']
const EVENTS: readonly ResyncWindowEvent[] = ['BEGIN', 'END']
/** Columns per update: seq, time, block, volume start, volume end, data start, data end. */
const COLUMNS = 7
/** The fewest bytes an update takes (five varints of one byte). */
const MIN_UPDATE_BYTES = 5
/** avsc's isSafeLong bound: a long beyond it is refused ('potential precision loss'). */
const SAFE_LONG = 9007199254740990

/** A walked record set: its header fields and its updates as columns over the record's own buffer. */
export type WalkedRecordSet = RecordSetView & { readonly updates: WalkedUpdates }

/**
 * Walks the Avro body of `buf` from `start` (after the wire header) to its
 * end. `subject` and `schemaId` only name the value in errors.
 */
export function walkRecordSet(buf: Buffer, start: number, subject: string, schemaId: number): WalkedRecordSet {
  const c = new Cursor(buf, start, subject, schemaId)
  const session = c.string('session')
  const controller = c.varint('controller')
  const kind = c.symbol('kind', KINDS)
  const firstSeq = c.long('firstSeq')
  const lastSeq = c.long('lastSeq')
  const minTime = c.long('minTime')
  const maxTime = c.long('maxTime')
  const updates = walkUpdates(c)
  const window = walkWindow(c)
  if (c.pos !== buf.length) c.invalid('value', `${buf.length - c.pos} trailing bytes`)
  return { session, controller, kind, firstSeq, lastSeq, minTime, maxTime, updates, window }
}

/**
 * Whether `value` is in the Confluent wire format (magic byte 0) with schema id `schemaId`: a record set of the
 * schema version this process registered, which the walk reads. Any other id goes through the registry and avsc.
 */
export function walksAs(value: Buffer, schemaId: number | undefined): boolean {
  return (
    schemaId !== undefined && value.length >= WIRE_HEADER_BYTES && value[0] === 0 && value.readInt32BE(1) === schemaId
  )
}

/**
 * A walked record set as a RecordSet: one Update object per update, its data a view of the walked buffer (no
 * copy). Whoever holds an update holds that whole buffer.
 */
export function walkedRecordSet(w: WalkedRecordSet): RecordSet {
  const updates: Update[] = new Array<Update>(w.updates.length)
  for (let i = 0; i < updates.length; i++) updates[i] = w.updates.update(i)
  const { session, controller, kind, firstSeq, lastSeq, minTime, maxTime, window } = w
  return { session, controller, kind, firstSeq, lastSeq, minTime, maxTime, updates, window }
}

/** The updates array: blocks of items (a negative count is followed by the block's size in bytes, skipped). */
function walkUpdates(c: Cursor): WalkedUpdates {
  let cols = new Float64Array(0)
  let n = 0
  for (;;) {
    let count = c.varint('updates count')
    if (count === 0) break
    if (count < 0) {
      count = -count
      c.varint('updates block size')
    }
    if (count > (c.buf.length - c.pos) / MIN_UPDATE_BYTES) c.truncated(`updates (${count} more announced)`)
    if ((n + count) * COLUMNS > cols.length) {
      const grown = new Float64Array((n + count) * COLUMNS)
      grown.set(cols.subarray(0, n * COLUMNS))
      cols = grown
    }
    for (let i = 0; i < count; i++, n++) walkUpdate(c, cols, n * COLUMNS)
  }
  return new WalkedUpdates(c.buf, cols, n)
}

function walkUpdate(c: Cursor, cols: Float64Array, at: number): void {
  cols[at] = c.long('update seq')
  cols[at + 1] = c.long('update time')
  const volumeLength = c.length('update volume')
  cols[at + 3] = c.pos
  cols[at + 4] = c.skip(volumeLength, 'update volume')
  cols[at + 2] = c.long('update block')
  const dataLength = c.length('update data')
  cols[at + 5] = c.pos
  cols[at + 6] = c.skip(dataLength, 'update data')
}

/** The optional window: union index 0 is null, 1 a ResyncWindow. */
function walkWindow(c: Cursor): ResyncWindow | null {
  const branch = c.varint('window union index')
  if (branch === 0) return null
  if (branch !== 1) c.invalid('window union index', `invalid union index ${branch}`)
  const event = c.symbol('window event', EVENTS)
  const epoch = c.long('window epoch')
  const consistentUntil = c.long('window consistentUntil')
  const blocks = c.long('window blocks')
  const reason = c.string('window reason')
  return { event, epoch, consistentUntil, blocks, reason }
}

/** Reads Avro primitives off a buffer, refusing what avsc refuses. */
class Cursor {
  pos: number
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly subject: string,
    readonly schemaId: number,
  ) {
    this.pos = start
  }

  /** A zig-zag varint, with avsc's arithmetic (exact below 2^53, as avsc's above). */
  varint(field: string): number {
    const buf = this.buf
    let n = 0
    let k = 0
    let b: number
    do {
      if (this.pos >= buf.length) this.truncated(field)
      b = buf[this.pos++] as number
      n |= (b & 0x7f) << k
      k += 7
    } while (b & 0x80 && k < 28)
    if (!(b & 0x80)) return (n >> 1) ^ -(n & 1)
    let f = n
    let fk = 268435456
    do {
      if (this.pos >= buf.length) this.truncated(field)
      b = buf[this.pos++] as number
      f += (b & 0x7f) * fk
      fk *= 128
    } while (b & 0x80)
    return (f % 2 ? -(f + 1) : f) / 2
  }

  long(field: string): number {
    const at = this.pos
    const n = this.varint(field)
    if (n < -SAFE_LONG || n > SAFE_LONG) this.invalid(field, `potential precision loss (${n})`, at)
    return n
  }

  /** A string's or bytes' length: never negative. */
  length(field: string): number {
    const at = this.pos
    const n = this.varint(`${field} length`)
    if (n < 0) this.invalid(`${field} length`, `negative length ${n}`, at)
    return n
  }

  /** Moves past `n` bytes; returns the position after them. */
  skip(n: number, field: string): number {
    if (n > this.buf.length - this.pos) this.truncated(`${field} (${n} bytes)`)
    this.pos += n
    return this.pos
  }

  string(field: string): string {
    const n = this.length(field)
    const from = this.pos
    return this.buf.toString('utf8', from, this.skip(n, field))
  }

  symbol<S extends string>(field: string, symbols: readonly S[]): S {
    const at = this.pos
    const index = this.varint(field)
    const symbol = symbols[index]
    if (symbol === undefined) this.invalid(field, `invalid enum index ${index}`, at)
    return symbol as S
  }

  truncated(field: string): never {
    const { subject, schemaId } = this
    throw new XrcError('XRC_DECODE_FAILED', {
      reason: 'walkTruncated',
      subject,
      schemaId,
      field,
      at: this.pos,
      bytes: this.buf.length,
    })
  }

  invalid(field: string, problem: string, at = this.pos): never {
    const { subject, schemaId } = this
    throw new XrcError('XRC_DECODE_FAILED', { reason: 'walkInvalid', subject, schemaId, field, at, problem })
  }
}

/** The updates of a walked record set: columns of numbers over the record's buffer (see COLUMNS). */
export class WalkedUpdates implements UpdateList {
  constructor(
    readonly buf: Buffer,
    readonly cols: Float64Array,
    readonly length: number,
  ) {}

  seq(i: number): number {
    return this.cols[i * COLUMNS] as number
  }
  time(i: number): number {
    return this.cols[i * COLUMNS + 1] as number
  }
  block(i: number): number {
    return this.cols[i * COLUMNS + 2] as number
  }
  volume(i: number): string {
    return internedName(this.buf, this.cols[i * COLUMNS + 3] as number, this.cols[i * COLUMNS + 4] as number)
  }
  bytes(i: number): number {
    return (this.cols[i * COLUMNS + 6] as number) - (this.cols[i * COLUMNS + 5] as number)
  }
  data(i: number): Buffer {
    return this.buf.subarray(this.cols[i * COLUMNS + 5], this.cols[i * COLUMNS + 6])
  }
  /** Update `i` as an object, its data a view of the record's buffer. */
  update(i: number): Update {
    return { seq: this.seq(i), time: this.time(i), volume: this.volume(i), block: this.block(i), data: this.data(i) }
  }
}

/** Volume names met so far with their UTF-8 bytes: a session has few, so reading one makes no string. */
const NAMES: { bytes: Buffer; name: string }[] = []
const MAX_NAMES = 256

/** The string of the UTF-8 bytes buf[from, to), from NAMES when met before. */
function internedName(buf: Buffer, from: number, to: number): string {
  const length = to - from
  for (const entry of NAMES) {
    const bytes = entry.bytes
    if (bytes.length !== length) continue
    let same = true
    for (let j = 0; j < length; j++) {
      if (bytes[j] !== buf[from + j]) {
        same = false
        break
      }
    }
    if (same) return entry.name
  }
  const name = buf.toString('utf8', from, to)
  if (NAMES.length < MAX_NAMES) NAMES.push({ bytes: Buffer.from(buf.subarray(from, to)), name })
  return name
}
