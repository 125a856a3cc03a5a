/**
 * The record-set codec against the real registry: Confluent wire format,
 * schema evolution through a resolver (the resync window fields added to
 * the record-set and journal schemas among them), and a clear
 * XRC_DECODE_FAILED for every way a buffer can be wrong.
 */
import avro from 'avsc'
import { afterAll, describe, expect, it } from 'vitest'
import { createCodec, createDecoder, readWireHeader } from '../../schemas/codec.js'
import { JOURNAL_SCHEMA, type JournalRecord } from '../../schemas/journal.js'
import { RECORD_SET_SCHEMA, type RecordSet } from '../../schemas/recordSet.js'
import { isXrcError } from '../../lib/errors.js'
import { uniqueName } from '../kit/names.js'
import { deleteSubject, stackInfo } from '../kit/servers.js'
import { registryAt } from '../../schemas/registryClient.js'

const subjects: string[] = []
afterAll(async () => {
  for (const s of subjects) await deleteSubject(s)
})

function subject(): string {
  const s = `${uniqueName('codec')}-value`
  subjects.push(s)
  return s
}

const sample: RecordSet = {
  session: 's1',
  controller: 2,
  kind: 'UPDATES',
  firstSeq: 10,
  lastSeq: 11,
  minTime: 1_700_000_000_000_000,
  maxTime: 1_700_000_000_000_005,
  updates: [
    { seq: 10, time: 1_700_000_000_000_000, volume: 'v', block: 3, data: Buffer.alloc(4096, 1) },
    { seq: 11, time: 1_700_000_000_000_005, volume: 'v', block: 4, data: Buffer.alloc(8192, 2) },
  ],
}

async function expectDecodeError(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(isXrcError(err, 'XRC_DECODE_FAILED'), String(err)).toBe(true)
  expect((err as Error).message).toMatch(pattern)
}

describe('record set codec', () => {
  it('encodes exactly the wire header and avsc bytes, small values and large ones, each in a buffer of its size', async () => {
    const codec = await createCodec<RecordSet>({
      registry: registryAt(stackInfo().registryUrl),
      subject: subject(),
      schema: RECORD_SET_SCHEMA,
    })
    const type = avro.Type.forSchema(RECORD_SET_SCHEMA as unknown as avro.Schema)
    const header = Buffer.alloc(5)
    header.writeInt32BE(codec.schemaId, 1)
    // around the 1 KiB written in place, and far past it
    for (const bytes of [0, 1, 900, 1000, 1024, 1100, 4096, 65_536, 1_048_576]) {
      const rs: RecordSet = {
        ...sample,
        updates: bytes === 0 ? [] : [{ ...sample.updates[0]!, data: Buffer.alloc(bytes, bytes % 251) }],
      }
      const buf = codec.encode(rs)
      expect(buf.equals(Buffer.concat([header, type.toBuffer(rs)])), `${bytes} bytes of data`).toBe(true)
      expect(buf.buffer.byteLength === buf.length || buf.length < 4096, `${bytes} bytes: its own memory`).toBe(true)
      const back = await codec.decode(buf)
      expect(back.updates.map((u) => u.data.equals(rs.updates[0]!.data))).toEqual(rs.updates.map(() => true))
    }
    expect(() => codec.encode({ ...sample, kind: 'NOPE' } as unknown as RecordSet)).toThrow(
      /schemaMismatch|does not fit|invalid/i,
    )
  })

  it('round-trips a record set in the Confluent wire format', async () => {
    const codec = await createCodec<RecordSet>({
      registry: registryAt(stackInfo().registryUrl),
      subject: subject(),
      schema: RECORD_SET_SCHEMA,
    })
    const buf = codec.encode(sample)
    expect(buf[0]).toBe(0)
    expect(readWireHeader(buf)).toBe(codec.schemaId)
    const back = await codec.decode(buf)
    expect(back).toEqual({ ...sample, window: null })
  })

  it('evolves the record-set and journal schemas backward-compatibly with the resync window fields', async () => {
    // the schemas as they were before the window fields: what a running session has registered
    const withoutWindows = <T extends { fields: readonly { name: string }[] }>(schema: T, field: string): object => ({
      ...schema,
      fields: schema.fields.filter((f) => f.name !== field),
    })
    const s = subject()
    const old = await createCodec<RecordSet>({
      registry: registryAt(stackInfo().registryUrl),
      subject: s,
      schema: withoutWindows(RECORD_SET_SCHEMA, 'window'),
    })
    // the registry takes the new version under the subject's compatibility level (BACKWARD)
    const now = await createCodec<RecordSet>({
      registry: registryAt(stackInfo().registryUrl),
      subject: s,
      schema: RECORD_SET_SCHEMA,
    })
    expect(now.schemaId).not.toBe(old.schemaId)
    expect(await now.decode(old.encode(sample))).toEqual({ ...sample, window: null })
    const beat: RecordSet = {
      ...sample,
      kind: 'HEARTBEAT',
      firstSeq: 12,
      lastSeq: 11,
      minTime: sample.maxTime + 1,
      maxTime: sample.maxTime + 1,
      updates: [],
      window: { event: 'BEGIN', epoch: 3, consistentUntil: sample.maxTime, blocks: 7, reason: 'operator' },
    }
    expect(await now.decode(now.encode(beat))).toEqual(beat)
    // a reader of the old version (an auditor not yet upgraded) still reads it, without the event
    const { window: _w, ...plain } = beat
    expect(await old.decode(now.encode(beat))).toEqual(plain)
    // a reader that registers nothing (the primary follows the applied topic so)
    const decoder = createDecoder<RecordSet>({
      registry: registryAt(stackInfo().registryUrl),
      subject: s,
      schema: RECORD_SET_SCHEMA,
    })
    expect(await decoder.decode(old.encode(sample))).toEqual({ ...sample, window: null })

    const j = subject()
    const group: JournalRecord = {
      session: 's1',
      groupSeq: 4,
      groupTime: 99,
      part: 0,
      parts: 1,
      updates: [],
      controllers: [{ controller: 0, lastSeq: 3, lastTime: 99, resumeOffset: 8 }],
    }
    // the journal schema before windows and markers, under its name of then
    const { aliases: _a, ...named } = JOURNAL_SCHEMA
    const beforeMarkers = {
      ...named,
      name: 'JournalRecord',
      fields: named.fields.filter((f) => f.name !== 'ranges' && f.name !== 'discarded'),
    }
    const oldJournal = await createCodec<JournalRecord>({
      registry: registryAt(stackInfo().registryUrl),
      subject: j,
      schema: withoutWindows(beforeMarkers, 'windows'),
    })
    const windowsJournal = await createCodec<JournalRecord>({
      registry: registryAt(stackInfo().registryUrl),
      subject: j,
      schema: beforeMarkers,
    })
    const journal = await createCodec<JournalRecord>({
      registry: registryAt(stackInfo().registryUrl),
      subject: j,
      schema: JOURNAL_SCHEMA,
    })
    expect(await journal.decode(oldJournal.encode(group))).toEqual({ ...group, windows: [], ranges: [], discarded: [] })
    const carried = { ...group, windows: [{ controller: 0, time: 90, ...beat.window!, event: 'END' as const }] }
    expect(await journal.decode(windowsJournal.encode(carried))).toEqual({ ...carried, ranges: [], discarded: [] })
    const marker: JournalRecord = {
      ...carried,
      ranges: [{ controller: 0, fromOffset: 4, toOffset: 8, firstSeq: 1, lastSeq: 3, setAside: [6] }],
      discarded: [],
    }
    expect(await journal.decode(journal.encode(marker))).toEqual(marker)
    // an applier of a release before markers cannot read one: it halts rather than apply a group without its updates
    await expect(windowsJournal.decode(journal.encode(marker))).rejects.toMatchObject({ code: 'XRC_DECODE_FAILED' })
  })

  it('registering the same schema again gives the same id', async () => {
    const s = subject()
    const a = await createCodec<RecordSet>({
      registry: registryAt(stackInfo().registryUrl),
      subject: s,
      schema: RECORD_SET_SCHEMA,
    })
    const b = await createCodec<RecordSet>({
      registry: registryAt(stackInfo().registryUrl),
      subject: s,
      schema: RECORD_SET_SCHEMA,
    })
    expect(b.schemaId).toBe(a.schemaId)
  })

  it('reads values written with an older compatible schema version', async () => {
    const s = subject()
    const v1 = { type: 'record', name: 'Probe', namespace: 'xrc.test', fields: [{ name: 'a', type: 'long' }] }
    const v2 = { ...v1, fields: [...v1.fields, { name: 'b', type: 'string', default: 'none' }] }
    const writer = await createCodec<{ a: number }>({
      registry: registryAt(stackInfo().registryUrl),
      subject: s,
      schema: v1,
    })
    const reader = await createCodec<{ a: number; b: string }>({
      registry: registryAt(stackInfo().registryUrl),
      subject: s,
      schema: v2,
    })
    expect(reader.schemaId).not.toBe(writer.schemaId)
    expect(await reader.decode(writer.encode({ a: 5 }))).toEqual({ a: 5, b: 'none' })
  })

  it('names what is wrong with a bad buffer', async () => {
    const codec = await createCodec<RecordSet>({
      registry: registryAt(stackInfo().registryUrl),
      subject: subject(),
      schema: RECORD_SET_SCHEMA,
    })
    const good = codec.encode(sample)
    await expectDecodeError(codec.decode(Buffer.from('{"not":"avro"}')), /magic byte 123/)
    await expectDecodeError(codec.decode(Buffer.from([0, 0])), /fewer than the 5-byte header/)
    const wrongId = Buffer.from(good)
    wrongId.writeInt32BE(2_000_000_000, 1)
    await expectDecodeError(codec.decode(wrongId), /unknown schema id 2000000000/)
    await expectDecodeError(codec.decode(good.subarray(0, good.length - 100)), /truncated|not a valid Avro/)
    await expectDecodeError(codec.decode(Buffer.concat([good, Buffer.from([1, 2, 3])])), /3 trailing bytes/)
  })

  it('refuses to encode a value that does not fit the schema', async () => {
    const codec = await createCodec<RecordSet>({
      registry: registryAt(stackInfo().registryUrl),
      subject: subject(),
      schema: RECORD_SET_SCHEMA,
    })
    expect(() => codec.encode({ ...sample, kind: 'BOGUS' as RecordSet['kind'] })).toThrow(/does not fit schema/)
  })
})
