import avro from 'avsc'
import type { ReadRecord } from '../../lib/kafka/index.js'
import { describe, expect, it } from 'vitest'
import { XrcError } from '../../lib/errors.js'
import type { AvroCodec } from '../../schemas/codec.js'
import { RECORD_SET_SCHEMA, type RecordSet } from '../../schemas/recordSet.js'
import { WalkedUpdates } from '../../schemas/recordSetWalk.js'
import { HEADERS } from '../../schemas/topicNames.js'
import { updatesOf } from '../../schemas/updateList.js'
import { isFencedError } from '../journal/index.js'
import { decodeRecordSet } from './recordSetInput.js'

// the codec's own wire handling is tested with the registry (schemas, integration); here only what the mover adds
const type = avro.Type.forSchema(RECORD_SET_SCHEMA as unknown as avro.Schema)
const codec: AvroCodec<RecordSet> = {
  schemaId: 1,
  subject: 'test-value',
  encode: (v) => type.toBuffer(v),
  decode: async (buf) => {
    if (buf.length === 0) throw new XrcError('XRC_DECODE_FAILED', { reason: 'shortHeader', bytes: 0, headerBytes: 5 })
    return type.fromBuffer(buf) as RecordSet
  },
}

const rs: RecordSet = {
  session: 's',
  controller: 2,
  kind: 'UPDATES',
  firstSeq: 5,
  lastSeq: 5,
  minTime: 10,
  maxTime: 10,
  updates: [{ seq: 5, time: 10, volume: 'v', block: 0, data: Buffer.alloc(512) }],
}

function message(value: Buffer | null, headers: Record<string, string> = {}): ReadRecord {
  return { key: null, value, headers, offset: '7', timestamp: '0', attributes: 0 } as ReadRecord
}

async function failure(p: Promise<unknown>): Promise<XrcError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(XrcError)
  return err as XrcError
}

describe('decoding a record of the updates topic', () => {
  it('decodes a record set whose partition and headers agree with it', async () => {
    const headers = {
      [HEADERS.controller]: '2',
      [HEADERS.kind]: 'UPDATES',
      [HEADERS.firstSeq]: '5',
      [HEADERS.lastSeq]: '5',
      [HEADERS.minTime]: '10',
      [HEADERS.maxTime]: '10',
    }
    const got = await decodeRecordSet(message(codec.encode(rs), headers), 2, codec, 4096)
    expect({ ...got, updates: updatesOf(got.updates) }).toEqual({ ...rs, window: null })
  })

  it("walks a value of the codec's own schema id without decoding it, and decodes any other id", async () => {
    const decoded: Buffer[] = []
    const wire = (id: number): Buffer => {
      const header = Buffer.alloc(5)
      header.writeInt32BE(id, 1)
      return Buffer.concat([header, type.toBuffer(rs)])
    }
    const wireCodec: AvroCodec<RecordSet> = {
      ...codec,
      schemaId: 7,
      decode: async (buf) => {
        decoded.push(buf)
        return type.fromBuffer(buf.subarray(5)) as RecordSet
      },
    }
    const walked = await decodeRecordSet(message(wire(7)), 2, wireCodec, 4096)
    expect(walked.updates).toBeInstanceOf(WalkedUpdates)
    expect(decoded).toHaveLength(0)
    const other = await decodeRecordSet(message(wire(8)), 2, wireCodec, 4096)
    expect(decoded).toHaveLength(1)
    expect({ ...walked, updates: updatesOf(walked.updates) }).toEqual({ ...other, updates: updatesOf(other.updates) })
    const err = await failure(decodeRecordSet(message(wire(7).subarray(0, 40)), 2, wireCodec, 4096))
    expect(err.code).toBe('XRC_DECODE_FAILED')
    expect(err.message).toMatch(
      /^updates partition 2 offset 7: not a valid Avro test-value value \(schema id 7\): truncated in/,
    )
  })

  it('refuses a record with no value, naming partition and offset', async () => {
    const err = await failure(decodeRecordSet(message(null), 2, codec, 4096))
    expect(err.code).toBe('XRC_DECODE_FAILED')
    expect(err.message).toBe('updates partition 2 offset 7: a record with no value')
  })

  it('refuses a record over mover.maxRecordSetBytes before decoding it', async () => {
    const err = await failure(decodeRecordSet(message(codec.encode(rs)), 2, codec, 100))
    expect(err.code).toBe('XRC_RECORD_TOO_LARGE')
  })

  it('keeps the code of a decoding error and adds where the record is', async () => {
    const err = await failure(decodeRecordSet(message(Buffer.alloc(0)), 2, codec, 4096))
    expect(err.code).toBe('XRC_DECODE_FAILED')
    expect(err.context).toMatchObject({ partition: 2, offset: '7' })
  })

  it('refuses a record set on another controller partition', async () => {
    const err = await failure(decodeRecordSet(message(codec.encode(rs)), 1, codec, 4096))
    expect(err.code).toBe('XRC_INVALID_RECORD')
    expect(err.message).toMatch(/a record set of controller 2 \(partition = controller id\)/)
  })

  it('refuses headers that disagree with the body (readers route by them)', async () => {
    const err = await failure(decodeRecordSet(message(codec.encode(rs), { [HEADERS.lastSeq]: '6' }), 2, codec, 4096))
    expect(err.code).toBe('XRC_INVALID_RECORD')
    expect(err.message).toMatch(/header xrc.last-seq is "6" but the record set says 5/)
  })
})

describe('recognising a fenced producer', () => {
  it('knows INVALID_PRODUCER_EPOCH and PRODUCER_FENCED, also wrapped by kafkajs retries and aggregates', () => {
    expect(isFencedError({ type: 'INVALID_PRODUCER_EPOCH' })).toBe(true)
    expect(isFencedError({ type: 'PRODUCER_FENCED' })).toBe(true)
    expect(isFencedError(new Error('Unknown error code 90'))).toBe(true)
    expect(isFencedError(new Error('retries exceeded', { cause: { type: 'INVALID_PRODUCER_EPOCH' } }))).toBe(true)
    expect(isFencedError({ errors: [{ type: 'NOT_LEADER_FOR_PARTITION' }, { type: 'INVALID_PRODUCER_EPOCH' }] })).toBe(
      true,
    )
  })

  it('does not take other errors for fencing', () => {
    expect(isFencedError({ type: 'REQUEST_TIMED_OUT' })).toBe(false)
    expect(isFencedError(new Error('Unknown error code 900'))).toBe(false)
    expect(isFencedError(undefined)).toBe(false)
  })
})
