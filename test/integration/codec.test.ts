/**
 * The record-set codec against the real registry: Confluent wire format,
 * schema evolution through a resolver, and a clear XRC_DECODE_FAILED for
 * every way a buffer can be wrong.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { createCodec, readWireHeader } from '../../schemas/codec.js'
import { RECORD_SET_SCHEMA, type RecordSet } from '../../schemas/recordSet.js'
import { isXrcError } from '../../lib/errors.js'
import { uniqueName } from '../kit/names.js'
import { deleteSubject, stackInfo } from '../kit/servers.js'

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
  it('round-trips a record set in the Confluent wire format', async () => {
    const codec = await createCodec<RecordSet>({
      registryUrl: stackInfo().registryUrl,
      subject: subject(),
      schema: RECORD_SET_SCHEMA,
    })
    const buf = codec.encode(sample)
    expect(buf[0]).toBe(0)
    expect(readWireHeader(buf)).toBe(codec.schemaId)
    const back = await codec.decode(buf)
    expect(back).toEqual(sample)
  })

  it('registering the same schema again gives the same id', async () => {
    const s = subject()
    const a = await createCodec<RecordSet>({
      registryUrl: stackInfo().registryUrl,
      subject: s,
      schema: RECORD_SET_SCHEMA,
    })
    const b = await createCodec<RecordSet>({
      registryUrl: stackInfo().registryUrl,
      subject: s,
      schema: RECORD_SET_SCHEMA,
    })
    expect(b.schemaId).toBe(a.schemaId)
  })

  it('reads values written with an older compatible schema version', async () => {
    const s = subject()
    const v1 = { type: 'record', name: 'Probe', namespace: 'xrc.test', fields: [{ name: 'a', type: 'long' }] }
    const v2 = { ...v1, fields: [...v1.fields, { name: 'b', type: 'string', default: 'none' }] }
    const writer = await createCodec<{ a: number }>({ registryUrl: stackInfo().registryUrl, subject: s, schema: v1 })
    const reader = await createCodec<{ a: number; b: string }>({
      registryUrl: stackInfo().registryUrl,
      subject: s,
      schema: v2,
    })
    expect(reader.schemaId).not.toBe(writer.schemaId)
    expect(await reader.decode(writer.encode({ a: 5 }))).toEqual({ a: 5, b: 'none' })
  })

  it('names what is wrong with a bad buffer', async () => {
    const codec = await createCodec<RecordSet>({
      registryUrl: stackInfo().registryUrl,
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
      registryUrl: stackInfo().registryUrl,
      subject: subject(),
      schema: RECORD_SET_SCHEMA,
    })
    expect(() => codec.encode({ ...sample, kind: 'BOGUS' as RecordSet['kind'] })).toThrow(/does not fit schema/)
  })
})
