import avro from 'avsc'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { XrcError } from '../lib/errors.js'
import { RECORD_SET_SCHEMA, type RecordSet } from './recordSet.js'
import { walkRecordSet, walkedRecordSet, walksAs } from './recordSetWalk.js'
import { updatesOf } from './updateList.js'

const longType = avro.Type.forSchema('long')
const stringType = avro.Type.forSchema('string')
const bytesType = avro.Type.forSchema('bytes')
const HEADER = Buffer.from([0, 0, 0, 0, 9])

/** The parts of avsc's tap the guarded array type below uses. */
interface AvscTap {
  buf: Buffer
  pos: number
  readLong(): number
  skipLong(): void
}
type ArrayTypeClass = new (
  schema: unknown,
  opts: unknown,
) => {
  itemsType: { _read(tap: AvscTap): unknown }
}

// avsc reads an array block's items before it finds the value truncated, allocating the announced count first:
// a corrupted count (up to 2^53) runs it out of memory. Its verdict on such a value is a refusal either way (it
// ends past the end), so the reference's array type refuses as soon as a block announces more items than bytes
// are left (each item takes at least one); otherwise it is avsc's own loop.
class GuardedArrayType extends (avro.types.ArrayType as unknown as ArrayTypeClass) {
  _read(tap: AvscTap): unknown[] {
    const val: unknown[] = []
    let n: number
    while ((n = tap.readLong())) {
      if (n < 0) {
        n = -n
        tap.skipLong()
      }
      if (n > tap.buf.length - tap.pos) throw new Error(`${n} items announced, ${tap.buf.length - tap.pos} bytes left`)
      while (n--) val.push(this.itemsType._read(tap))
    }
    return val
  }
}

// the reference: avsc's decode as schemas/codec.ts runs it (no resolver: the writer schema is the walk's own),
// with the array guard above
const type = avro.Type.forSchema(RECORD_SET_SCHEMA as unknown as avro.Schema, {
  typeHook: (schema, opts) =>
    typeof schema === 'object' && (schema as { type?: unknown }).type === 'array'
      ? (new GuardedArrayType(schema, opts) as unknown as avro.Type)
      : undefined,
})

type Outcome = { ok: true; value: RecordSet } | { ok: false; error: unknown }

function decoded(buf: Buffer): Outcome {
  try {
    const { value, offset } = type.decode(buf, HEADER.length)
    return offset === buf.length ? { ok: true, value: value as RecordSet } : { ok: false, error: `offset ${offset}` }
  } catch (error) {
    return { ok: false, error }
  }
}

function walked(buf: Buffer): Outcome {
  try {
    const rs = walkRecordSet(buf, HEADER.length, 'test-value', 9)
    return { ok: true, value: { ...rs, updates: updatesOf(rs.updates) } }
  } catch (error) {
    return { ok: false, error }
  }
}

/** The same answer: both accept with equal values, or both refuse (the walk with an XRC_DECODE_FAILED). */
function expectSame(buf: Buffer): void {
  const w = walked(buf)
  if (!w.ok) {
    expect(w.error).toBeInstanceOf(XrcError)
    expect((w.error as XrcError).code).toBe('XRC_DECODE_FAILED')
  }
  const d = decoded(buf)
  expect(w.ok).toBe(d.ok)
  if (w.ok && d.ok) expect(w.value).toEqual(d.value)
}

const long = fc.oneof(
  fc.integer({ min: -1000, max: 1_000_000 }),
  fc.integer({ min: -9007199254740990, max: 9007199254740990 }),
)
const updateArb = fc.record({
  seq: long,
  time: long,
  volume: fc.oneof(fc.constantFrom('v0', 'v1', 'vol-é'), fc.string({ maxLength: 6 })),
  block: long,
  data: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
})
const windowArb = fc.record({
  event: fc.constantFrom('BEGIN' as const, 'END' as const),
  epoch: long,
  consistentUntil: long,
  blocks: long,
  reason: fc.string({ maxLength: 10 }),
})
const recordSetArb: fc.Arbitrary<RecordSet> = fc.record({
  session: fc.string({ maxLength: 8 }),
  controller: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  kind: fc.constantFrom('UPDATES' as const, 'HEARTBEAT' as const, 'RESYNC' as const),
  firstSeq: long,
  lastSeq: long,
  minTime: long,
  maxTime: long,
  updates: fc.array(updateArb, { maxLength: 6 }),
  window: fc.option(windowArb, { nil: null }),
})

function roundTrips(buf: Buffer, rs: RecordSet): boolean {
  const d = decoded(buf)
  return d.ok && JSON.stringify(d.value) === JSON.stringify(rs)
}

function wire(rs: RecordSet): Buffer {
  return Buffer.concat([HEADER, type.toBuffer(rs)])
}

/**
 * The same record set with its updates array written as blocks of `sizes` items (avsc writes one block): a
 * negative count followed by the block's size in bytes, as Avro allows.
 */
function wireInBlocks(rs: RecordSet, sizes: number[]): Buffer {
  // the record with no updates and no window ends in two zero bytes: the updates count and the union index
  const bare = type.toBuffer({ ...rs, updates: [], window: null })
  const head = bare.subarray(0, bare.length - 2)
  const window = type.toBuffer({ ...rs, updates: [] }).subarray(head.length + 1)
  const item = (u: RecordSet['updates'][number]): Buffer =>
    Buffer.concat([
      longType.toBuffer(u.seq),
      longType.toBuffer(u.time),
      stringType.toBuffer(u.volume),
      longType.toBuffer(u.block),
      bytesType.toBuffer(u.data),
    ])
  const parts: Buffer[] = [HEADER, head]
  let i = 0
  for (const size of sizes) {
    const items = rs.updates.slice(i, i + size).map(item)
    i += items.length
    if (items.length === 0) continue
    const body = Buffer.concat(items)
    parts.push(longType.toBuffer(-items.length), longType.toBuffer(body.length), body)
  }
  const rest = rs.updates.slice(i).map(item)
  if (rest.length > 0) parts.push(longType.toBuffer(rest.length), ...rest)
  parts.push(Buffer.from([0]), window)
  return Buffer.concat(parts)
}

describe('walking a record set', () => {
  it('reads what avsc decodes from any record set of the schema', () => {
    fc.assert(
      fc.property(recordSetArb, (rs) => {
        const buf = wire(rs)
        // avsc's own arithmetic loses a unit on some odd negative longs near -2^52 (zig-zag beyond 2^53): the walk
        // reads what avsc reads, so it equals the record set written wherever avsc does
        if (roundTrips(buf, rs)) expect(walked(buf)).toEqual({ ok: true, value: rs })
        expectSame(buf)
      }),
      { numRuns: 300 },
    )
  })

  it('gives the record set avsc decodes, its block data views of the walked buffer (no copy)', () => {
    fc.assert(
      fc.property(recordSetArb, (rs) => {
        const buf = wire(rs)
        const d = decoded(buf)
        fc.pre(d.ok)
        const w = walkedRecordSet(walkRecordSet(buf, HEADER.length, 'test-value', 9))
        expect(w).toEqual((d as { value: RecordSet }).value)
        for (const u of w.updates) expect(u.data.buffer).toBe(buf.buffer)
      }),
      { numRuns: 300 },
    )
  })

  it('walks only the wire format with its own schema id', () => {
    const buf = wire({
      session: 's',
      controller: 0,
      kind: 'HEARTBEAT',
      firstSeq: 1,
      lastSeq: 0,
      minTime: 5,
      maxTime: 5,
      updates: [],
      window: null,
    })
    expect(walksAs(buf, 9)).toBe(true)
    expect(walksAs(buf, 10)).toBe(false) // another version: the registry and avsc
    expect(walksAs(buf, undefined)).toBe(false) // a decoder that registered nothing
    expect(walksAs(Buffer.concat([Buffer.from([1]), buf.subarray(1)]), 9)).toBe(false) // not magic byte 0
    expect(walksAs(buf.subarray(0, 4), 9)).toBe(false)
  })

  it('reads an updates array written in several blocks (negative counts with block sizes)', () => {
    fc.assert(
      fc.property(recordSetArb, fc.array(fc.nat(3), { maxLength: 4 }), (rs, sizes) => {
        const buf = wireInBlocks(rs, sizes)
        expect(decoded(buf)).toEqual(decoded(wire(rs)))
        expectSame(buf)
      }),
    )
  })

  it('refuses exactly what avsc refuses: truncation, trailing bytes, bad varints, lengths and indexes', () => {
    const corruption = fc.oneof(
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('trail' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 3 }) }),
      fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('varint' as const), at: fc.nat(), run: fc.integer({ min: 1, max: 12 }) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    )
    fc.assert(
      fc.property(recordSetArb, fc.array(corruption, { minLength: 1, maxLength: 3 }), (rs, corruptions) => {
        let buf = wire(rs)
        for (const c of corruptions) buf = corrupt(buf, c)
        expectSame(buf)
      }),
      { numRuns: 1000 },
    )
  })

  it('names what is wrong', () => {
    const rs: RecordSet = {
      session: 's',
      controller: 1,
      kind: 'UPDATES',
      firstSeq: 0,
      lastSeq: 0,
      minTime: 5,
      maxTime: 5,
      updates: [{ seq: 0, time: 5, volume: 'v', block: 3, data: Buffer.alloc(8) }],
      window: null,
    }
    const buf = wire(rs)
    const message = (b: Buffer): string => {
      const w = walked(b)
      return w.ok ? 'accepted' : (w.error as Error).message
    }
    expect(message(buf.subarray(0, buf.length - 4))).toMatch(/truncated in update data \(8 bytes\)/)
    expect(message(Buffer.concat([buf, Buffer.from([1, 2])]))).toMatch(/value at byte \d+: 2 trailing bytes/)
    const badWindow = Buffer.from(buf)
    badWindow[badWindow.length - 1] = 4 // union index 2
    expect(message(badWindow)).toMatch(/window union index at byte \d+: invalid union index 2/)
    const badKind = Buffer.from(buf)
    badKind[HEADER.length + 3] = 6 // enum index 3
    expect(message(badKind)).toMatch(/kind at byte 8: invalid enum index 3/)
  })
})

type Corruption =
  | { kind: 'truncate'; at: number }
  | { kind: 'trail'; bytes: Uint8Array }
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'varint'; at: number; run: number }
  | { kind: 'insert'; at: number; byte: number }

/** A corruption inside the Avro body (the wire header is the codec's business). */
function corrupt(buf: Buffer, c: Corruption): Buffer {
  const body = buf.length - HEADER.length
  const at = HEADER.length + (body === 0 ? 0 : c.kind === 'trail' ? 0 : (c as { at: number }).at % body)
  switch (c.kind) {
    case 'truncate':
      return buf.subarray(0, at)
    case 'trail':
      return Buffer.concat([buf, c.bytes])
    case 'set': {
      const out = Buffer.from(buf)
      if (at < out.length) out[at] = c.byte
      return out
    }
    case 'varint': {
      // a run of continuation bytes: a varint far too long, or one running off the end
      const out = Buffer.from(buf)
      for (let i = at; i < Math.min(out.length, at + c.run); i++) out[i] = 0xff
      return out
    }
    case 'insert':
      return Buffer.concat([buf.subarray(0, at), Buffer.from([c.byte]), buf.subarray(at)])
  }
}
