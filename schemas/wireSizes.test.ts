import { createRequire } from 'node:module'
import avro from 'avsc'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { WIRE_HEADER_BYTES as CODEC_WIRE_HEADER_BYTES } from './codec.js'
import { JOURNAL_SCHEMA, type JournalRecord } from './journal.js'
import { RECORD_SET_SCHEMA, type RecordSet } from './recordSet.js'
import { HEADERS } from './topicNames.js'
import {
  CONTROLLER_MARK_BYTES,
  JOURNAL_SINGLE_BLOCK_FRAMING_BYTES,
  JOURNAL_UPDATE_FIXED_BYTES,
  KAFKA_BATCH_HEADER_BYTES,
  KAFKA_FRAMING_BYTES,
  MAX_VOLUME_NAME_BYTES,
  WIRE_HEADER_BYTES,
  journalRecordBaseBytes,
  journalUpdateBytes,
  kafkaRecordOverheadBytes,
  markerBytes,
  markerSetAsideRoom,
  maxWriteBytes,
  recordSetBaseBytes,
  recordSetUpdateBytes,
} from './wireSizes.js'

// kafkajs's own encoder of a v2 record (internal, CommonJS): the bytes a record takes in a batch
const encodeKafkaRecord = createRequire(import.meta.url)('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (r: {
  offsetDelta: number
  timestampDelta: number
  key: Buffer
  value: Buffer
  headers: Record<string, string>
}) => { size(): number }

const recordSetType = avro.Type.forSchema(RECORD_SET_SCHEMA as unknown as avro.Schema)
const journalType = avro.Type.forSchema(JOURNAL_SCHEMA as unknown as avro.Schema)
/** Bytes on the wire: the Confluent header and the Avro body. */
const wireBytes = (type: avro.Type, value: unknown): number => WIRE_HEADER_BYTES + type.toBuffer(value).length

/** avsc's largest long as a JS number (2^53 - 2). */
const BIG = 2 ** 53 - 2
// the extremes matter: a varint's length depends on the value, so draw small and huge ones alike
const long = fc.oneof(
  fc.integer({ min: 0, max: 127 }),
  fc.maxSafeInteger().map((n) => Math.max(-BIG, Math.min(BIG, n))),
  fc.constant(BIG),
)
const int = fc.oneof(fc.integer({ min: 0, max: 63 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }))
const name = fc.oneof(fc.string({ maxLength: 63 }), fc.string({ unit: 'grapheme', maxLength: 80 }))
const data = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
  fc.integer({ min: 0, max: 70_000 }).map((n) => Buffer.alloc(n)),
)
const update = fc.record({ seq: long, time: long, volume: name, block: long, data })

const recordSet: fc.Arbitrary<RecordSet> = fc.record({
  session: name,
  controller: int,
  kind: fc.constantFrom('UPDATES' as const, 'HEARTBEAT' as const, 'RESYNC' as const),
  firstSeq: long,
  lastSeq: long,
  minTime: long,
  maxTime: long,
  updates: fc.array(update, { maxLength: 12 }),
})

const journalRecord: fc.Arbitrary<JournalRecord> = fc.record({
  session: name,
  groupSeq: long,
  groupTime: long,
  part: int,
  parts: int,
  updates: fc.array(fc.record({ controller: int, seq: long, time: long, volume: name, block: long, data }), {
    maxLength: 12,
  }),
  controllers: fc.array(fc.record({ controller: int, lastSeq: long, lastTime: long, resumeOffset: long }), {
    maxLength: 12,
  }),
})

const marker: fc.Arbitrary<JournalRecord> = fc.record({
  session: name,
  groupSeq: long,
  groupTime: long,
  part: fc.constant(0),
  parts: fc.constant(1),
  updates: fc.constant([]),
  controllers: fc.array(fc.record({ controller: int, lastSeq: long, lastTime: long, resumeOffset: long }), {
    maxLength: 12,
  }),
  windows: fc.array(
    fc.record({
      controller: int,
      time: long,
      event: fc.constantFrom('BEGIN' as const, 'END' as const),
      epoch: long,
      consistentUntil: long,
      blocks: long,
      reason: name,
    }),
    { maxLength: 3 },
  ),
  ranges: fc.array(
    fc.record({
      controller: int,
      fromOffset: long,
      toOffset: long,
      firstSeq: long,
      lastSeq: long,
      setAside: fc.array(long, { maxLength: 40 }),
    }),
    { maxLength: 12 },
  ),
  discarded: fc.array(fc.record({ controller: int, firstSeq: long, lastSeq: long }), { maxLength: 4 }),
})

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0)

describe('wire sizes', () => {
  it('the wire header is the codec’s', () => {
    expect(WIRE_HEADER_BYTES).toBe(CODEC_WIRE_HEADER_BYTES)
  })

  it('bound a record set’s real encoding from above', () => {
    fc.assert(
      fc.property(recordSet, (rs) => {
        const bound = recordSetBaseBytes(rs.session) + sum(rs.updates.map(recordSetUpdateBytes))
        expect(wireBytes(recordSetType, rs)).toBeLessThanOrEqual(bound)
      }),
      { numRuns: 300 },
    )
  })

  it('are tight for a record set of the largest values', () => {
    // every varint at its longest for a safe integer (8 bytes for 2^53 - 1, zig-zagged), the int at 5
    const big = BIG
    const rs: RecordSet = {
      session: 's',
      controller: -(2 ** 31),
      kind: 'UPDATES',
      firstSeq: big,
      lastSeq: big,
      minTime: big,
      maxTime: big,
      updates: [{ seq: big, time: big, volume: 'v', block: big, data: Buffer.alloc(1) }],
    }
    const bound = recordSetBaseBytes(rs.session) + recordSetUpdateBytes(rs.updates[0] as RecordSet['updates'][number])
    // the only slack: 2 of 10 bytes in each of the seven longs (a safe integer takes 8), 4 of 5 in each of the
    // four short length prefixes (session, volume, data, the array's count), in the kind's index and in the
    // resync window's union index (null here)
    expect(bound - wireBytes(recordSetType, rs)).toBe(7 * 2 + 4 * 4 + 4 + 4)
  })

  it('bound a journal record’s real encoding from above', () => {
    fc.assert(
      fc.property(journalRecord, (r) => {
        const bound =
          journalRecordBaseBytes(r.session) +
          sum(r.updates.map(journalUpdateBytes)) +
          r.controllers.length * CONTROLLER_MARK_BYTES
        expect(wireBytes(journalType, r)).toBeLessThanOrEqual(bound)
      }),
      { numRuns: 300 },
    )
  })

  it('bound a marker’s real encoding from above', () => {
    fc.assert(
      fc.property(marker, (m) => {
        expect(wireBytes(journalType, m)).toBeLessThanOrEqual(markerBytes(m))
      }),
      { numRuns: 300 },
    )
  })

  it('size set-aside offsets so that the largest marker the mover cuts fits in a journal record', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 64 * 1024, max: 2 * 1024 * 1024 }),
        fc.integer({ min: 1, max: 64 }),
        fc.string({ minLength: 1, maxLength: 63 }),
        (maxRecordBytes, controllers, session) => {
          const room = markerSetAsideRoom(session, controllers, maxRecordBytes)
          expect(room).toBeGreaterThan(0)
          const ids = Array.from({ length: controllers }, (_, i) => i)
          const setAside = Array.from({ length: room }, () => BIG)
          const m = {
            session,
            controllers: ids,
            windows: [],
            discarded: [],
            // every offset listed on one controller: the bound does not care where they are
            ranges: ids.map((_, i) => ({ setAside: i === 0 ? setAside : [] })),
          }
          // within the bound, with the reserve left for window events and discarded ranges
          expect(markerBytes(m) + 16 * 1024).toBeLessThanOrEqual(maxRecordBytes)
        },
      ),
      { numRuns: 100 },
    )
  })

  it('make the largest write the largest whole-block write one record set carries', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 16 * 1024, max: 2 * 1024 * 1024 }),
        fc.constantFrom(512, 1024, 4096, 65536),
        fc.string({ minLength: 1, maxLength: 63 }),
        (maxRecordSetBytes, blockSize, session) => {
          const max = maxWriteBytes(maxRecordSetBytes, session, blockSize)
          expect(max % blockSize).toBe(0)
          const rsWith = (bytes: number): RecordSet => ({
            session,
            controller: 1023,
            kind: 'UPDATES',
            firstSeq: BIG,
            lastSeq: BIG,
            minTime: BIG,
            maxTime: BIG,
            updates: [
              {
                seq: BIG,
                time: BIG,
                volume: 'v'.repeat(MAX_VOLUME_NAME_BYTES),
                block: 2 ** 31 - 1,
                data: Buffer.alloc(bytes),
              },
            ],
          })
          // the largest write fits, encoded for real, in the longest volume name
          expect(wireBytes(recordSetType, rsWith(max))).toBeLessThanOrEqual(maxRecordSetBytes)
          // one more block would pass the bound the sender cuts record sets by
          const next = rsWith(max + blockSize)
          expect(
            recordSetBaseBytes(session) + recordSetUpdateBytes(next.updates[0] as RecordSet['updates'][number]),
          ).toBeGreaterThan(maxRecordSetBytes)
        },
      ),
    )
  })

  it('leave the journal’s single-block allowance above the worst case of configured names', () => {
    const longest = 'x'.repeat(63)
    const worst = journalRecordBaseBytes(longest) + JOURNAL_UPDATE_FIXED_BYTES + longest.length
    expect(worst).toBeLessThanOrEqual(JOURNAL_SINGLE_BLOCK_FRAMING_BYTES)
    const r: JournalRecord = {
      session: longest,
      groupSeq: BIG,
      groupTime: BIG,
      part: 2 ** 31 - 1,
      parts: 2 ** 31 - 1,
      updates: [
        {
          controller: 1023,
          seq: BIG,
          time: BIG,
          volume: longest,
          block: 2 ** 31 - 1,
          data: Buffer.alloc(65536),
        },
      ],
      controllers: [],
    }
    expect(wireBytes(journalType, r) - 65536).toBeLessThanOrEqual(JOURNAL_SINGLE_BLOCK_FRAMING_BYTES)
  })

  it('bound a Kafka record’s overhead from above, as kafkajs encodes it', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 10 }),
        fc.uint8Array({ maxLength: 300 }),
        fc.dictionary(name, name, { maxKeys: 12 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (key, value, headers, offsetDelta) => {
          const record = encodeKafkaRecord({
            offsetDelta,
            timestampDelta: 2 ** 40,
            key: Buffer.from(key),
            value: Buffer.from(value),
            headers,
          })
          expect(record.size()).toBeLessThanOrEqual(value.length + kafkaRecordOverheadBytes(key, headers))
        },
      ),
      { numRuns: 300 },
    )
  })

  it('leave Kafka’s framing allowance above the batch header and one record’s overhead with every header at its longest', () => {
    const headers = Object.fromEntries(Object.values(HEADERS).map((h) => [h, 'x'.repeat(63)]))
    expect(KAFKA_BATCH_HEADER_BYTES + kafkaRecordOverheadBytes('1023', headers)).toBeLessThanOrEqual(
      KAFKA_FRAMING_BYTES,
    )
  })
})
