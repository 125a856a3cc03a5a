/**
 * A Kafka record of the updates topic turned into a record set: size bound,
 * Avro reading, and agreement between the partition, the Kafka headers and
 * the record set's header. A value written with the schema id of `codec`
 * (RECORD_SET_SCHEMA, registered by this process) is walked without a copy
 * (schemas/recordSetWalk.ts); any other id is decoded through the registry
 * with avsc (a writer schema of another version needs the resolver). Every
 * failure is an XrcError naming the partition and offset; the registry
 * being out of reach is retried a few times, a bad record never.
 */
import type { ReadRecord } from '../../lib/kafka/index.js'
import { XrcError, errorMessage, isXrcError } from '../../lib/errors.js'
import { retry } from '../../lib/retry.js'
import { WIRE_HEADER_BYTES, type AvroCodec } from '../../schemas/codec.js'
import type { RecordSet } from '../../schemas/recordSet.js'
import { walkRecordSet, walksAs } from '../../schemas/recordSetWalk.js'
import { viewOf, type RecordSetView } from '../../schemas/updateList.js'
import { HEADERS } from '../../schemas/topicNames.js'

const HEADER_FIELDS = [
  [HEADERS.controller, 'controller'],
  [HEADERS.kind, 'kind'],
  [HEADERS.firstSeq, 'firstSeq'],
  [HEADERS.lastSeq, 'lastSeq'],
  [HEADERS.minTime, 'minTime'],
  [HEADERS.maxTime, 'maxTime'],
] as const

export async function decodeRecordSet(
  message: ReadRecord,
  partition: number,
  codec: AvroCodec<RecordSet>,
  maxBytes: number,
): Promise<RecordSetView> {
  const context = { partition, offset: message.offset }
  const where = `updates partition ${partition} offset ${message.offset}`
  if (message.value === null) throw new XrcError('XRC_DECODE_FAILED', { reason: 'noRecordValue', where, ...context })
  const value = message.value
  if (value.length > maxBytes)
    throw new XrcError('XRC_RECORD_TOO_LARGE', {
      where,
      bytes: value.length,
      setting: 'mover.maxRecordSetBytes',
      maxBytes,
      ...context,
    })
  let rs: RecordSetView
  try {
    rs = walksAs(value, codec.schemaId)
      ? walkRecordSet(value, WIRE_HEADER_BYTES, codec.subject, codec.schemaId)
      : viewOf(await retry(() => codec.decode(value), { attempts: 5, initialDelayMs: 200, maxDelayMs: 3000 }))
  } catch (err) {
    throw new XrcError(isXrcError(err) ? err.code : 'XRC_DECODE_FAILED', `${where}: ${errorMessage(err)}`, {
      cause: err,
      context,
    })
  }
  if (rs.controller !== partition) {
    throw new XrcError(
      'XRC_INVALID_RECORD',
      { reason: 'wrongPartition', where, controller: rs.controller, ...context },
      { context: { firstSeq: rs.firstSeq, lastSeq: rs.lastSeq } },
    )
  }
  // headers let readers route without decoding: ones that disagree with the body would mislead them
  for (const [name, field] of HEADER_FIELDS) {
    const h = message.headers?.[name]
    if (h === undefined) continue
    const text = Array.isArray(h) ? h.map(String).join(',') : h.toString()
    if (text !== String(rs[field])) {
      throw new XrcError(
        'XRC_INVALID_RECORD',
        {
          reason: 'headerMismatch',
          where,
          header: name,
          headerValue: text,
          recordValue: String(rs[field]),
          ...context,
        },
        { context: { controller: rs.controller, firstSeq: rs.firstSeq, lastSeq: rs.lastSeq } },
      )
    }
  }
  return rs
}
