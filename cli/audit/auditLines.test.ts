import type { ReadRecord } from '../../lib/kafka/index.js'
import { describe, expect, it } from 'vitest'
import { XrcError } from '../../lib/errors.js'
import type { ConsistencyGroup, JournalRecord } from '../../schemas/journal.js'
import { HEADERS } from '../../schemas/topicNames.js'
import {
  deadLetterLine,
  decodeErrorLine,
  headerText,
  joinErrorLine,
  joinedGroupLine,
  markerErrorLine,
  markerLine,
  partBeforeStartLine,
  updatesLine,
  whereOf,
} from './auditLines.js'

const message = (over: Partial<ReadRecord> = {}): ReadRecord =>
  ({
    key: null,
    value: Buffer.alloc(8),
    timestamp: '0',
    attributes: 0,
    offset: '7',
    headers: {},
    ...over,
  }) as ReadRecord

const where = whereOf('t', 2, message())

const update = { controller: 0, seq: 1, time: 101, volume: 'a', block: 4, data: Buffer.alloc(4096, 1) }

const record = (over: Partial<JournalRecord> = {}): JournalRecord => ({
  session: 's',
  groupSeq: 9,
  groupTime: 900,
  part: 0,
  parts: 1,
  updates: [],
  controllers: [],
  ...over,
})

const group: ConsistencyGroup = { session: 's', groupSeq: 9, groupTime: 900, updates: [update], controllers: [] }

describe('audit lines', () => {
  it('heads each line with where the record was read', () => {
    expect(where).toEqual({ topic: 't', partition: 2, offset: 7, timestamp: '1970-01-01T00:00:00.000Z' })
  })

  it('shows headers as text, a repeated one as a list', () => {
    expect(headerText({ a: Buffer.from('x'), b: [Buffer.from('1'), '2'] })).toEqual({ a: 'x', b: ['1', '2'] })
    expect(headerText(undefined)).toEqual({})
  })

  it('keeps the key order of each line', () => {
    const decoded = { schemaId: 3, value: { session: 's', controller: 0, updates: [update] } }
    expect(Object.keys(updatesLine(where, decoded, false)).slice(0, 6)).toEqual([
      'topic',
      'partition',
      'offset',
      'timestamp',
      'schemaId',
      'session',
    ])
    expect(Object.keys(deadLetterLine(where, message(), { error: 'bad' }, false))).toEqual([
      'topic',
      'partition',
      'offset',
      'timestamp',
      'headers',
      'recordBytes',
      'decodeError',
    ])
    expect(Object.keys(joinedGroupLine(where, { group, firstOffset: 5, lastOffset: 7 }, 3, 2, false))).toEqual([
      'topic',
      'partition',
      'offsets',
      'timestamp',
      'schemaId',
      'session',
      'groupSeq',
      'groupTime',
      'parts',
      'updates',
      'bytes',
      'volumes',
      'sha256',
      'controllers',
    ])
  })

  it("a dead letter that decodes is summarized like a record set, beside the record's own size", () => {
    const m = message()
    const line = deadLetterLine(where, m, { schemaId: 3, value: { session: 's', updates: [update] } }, false)
    expect(line).toMatchObject({ recordBytes: m.value?.length, bytes: 4096, schemaId: 3, session: 's', updates: 1 })
    expect(line).not.toHaveProperty('decodeError')
  })

  it('names the error code, a default one for an error of no catalogue', () => {
    expect(decodeErrorLine(where, new Error('x'))).toMatchObject({ error: { code: 'XRC_DECODE_FAILED', message: 'x' } })
    const coded = new XrcError('XRC_UPDATES_GONE', {
      groupSeq: 9,
      partition: 0,
      fromOffset: 1,
      topic: 't',
      logStart: 5,
    })
    expect(markerErrorLine(where, record(), coded)).toMatchObject({ groupSeq: 9, error: { code: 'XRC_UPDATES_GONE' } })
    expect(markerErrorLine(where, record(), new Error('y'))).toMatchObject({ error: { code: 'XRC_GROUP_INCOMPLETE' } })
    const m = message({ headers: { [HEADERS.groupSeq]: Buffer.from('9') } })
    expect(joinErrorLine(where, new Error('z'), m)).toMatchObject({
      error: { code: 'XRC_GROUP_INCOMPLETE', message: 'z' },
      headers: { groupSeq: '9' },
    })
  })

  it('a later part whose first part is before the start is a note, not a group', () => {
    expect(partBeforeStartLine(where, record({ part: 1, parts: 3 })).note).toBe(
      'part 2 of 3 of group 9, whose first part is before the start offset: not shown as a group',
    )
  })

  it('a marker shows its group at its own offset, its ranges, and discarded seqs only when some are', () => {
    const ranges = [{ controller: 0, fromOffset: 1, toOffset: 2, firstSeq: 1, lastSeq: 1, setAside: [] }]
    const line = markerLine(where, 3, record({ ranges }), group, false)
    expect(line).toMatchObject({ offsets: [7, 7], schemaId: 3, groupSeq: 9, parts: 1, updates: 1, ranges })
    expect(line).not.toHaveProperty('discarded')
    expect(markerLine(where, 3, record({ ranges, discarded: [] }), group, false)).not.toHaveProperty('discarded')
    const discarded = [{ controller: 0, firstSeq: 1, lastSeq: 1 }]
    expect(markerLine(where, 3, record({ ranges, discarded }), group, false)).toMatchObject({ discarded })
  })
})
