/**
 * The lines `xrc audit` writes, one JSON object each: an updates record
 * set, a dead letter, a whole group of the older format, a marker with its
 * updates, and the lines for what could not be read. Pure code: the reading
 * is in runAudit.ts.
 */
import type { ReadRecord, RecordHeaders } from '../../lib/kafka/index.js'
import { errorMessage, isXrcError } from '../../lib/errors.js'
import type { ConsistencyGroup, JournalRecord } from '../../schemas/journal.js'
import { HEADERS } from '../../schemas/topicNames.js'
import { summarizeGroup, summarizeRecordSet } from './summaries.js'

/** One line of the audit. */
export type AuditLine = Record<string, unknown>

/** Where a record was read, at the head of its line. */
export interface Where {
  topic: string
  partition: number
  offset: number
  timestamp: string
}

/** A value decoded by the writer's schema, and that schema's id in the registry. */
export interface Decoded {
  schemaId: number
  value: Record<string, unknown>
}

export function whereOf(topic: string, partition: number, m: ReadRecord): Where {
  return { topic, partition, offset: Number(m.offset), timestamp: new Date(Number(m.timestamp)).toISOString() }
}

/** Kafka headers as text (a repeated header as a list). */
export function headerText(headers: RecordHeaders | undefined): Record<string, string | string[]> {
  return Object.fromEntries(
    Object.entries(headers ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v.map(String) : String(v)]),
  )
}

/** A record set of the updates topic. */
export function updatesLine(where: Where, decoded: Decoded, eachUpdate: boolean): AuditLine {
  return { ...where, schemaId: decoded.schemaId, ...summarizeRecordSet(decoded.value, eachUpdate) }
}

/** A dead letter: its headers and size (`recordBytes`), and its value or why that did not decode. */
export function deadLetterLine(
  where: Where,
  m: ReadRecord,
  decoded: Decoded | { error: string },
  eachUpdate: boolean,
): AuditLine {
  return {
    ...where,
    headers: headerText(m.headers),
    recordBytes: m.value?.length ?? 0,
    ...('error' in decoded
      ? { decodeError: decoded.error }
      : { schemaId: decoded.schemaId, ...summarizeRecordSet(decoded.value, eachUpdate) }),
  }
}

/** A value of the updates or journal topic that did not decode. */
export function decodeErrorLine(where: Where, err: unknown): AuditLine {
  return { ...where, error: { code: isXrcError(err) ? err.code : 'XRC_DECODE_FAILED', message: errorMessage(err) } }
}

/** A later part of a group of the older format whose first part is before the start offset. */
export function partBeforeStartLine(where: Where, record: JournalRecord): AuditLine {
  return {
    ...where,
    note:
      `part ${record.part + 1} of ${record.parts} of group ${record.groupSeq}, whose first part is ` +
      `before the start offset: not shown as a group`,
  }
}

/** A whole group of the older format, its parts joined (from the offset of its first part to that of its last). */
export function joinedGroupLine(
  where: Where,
  group: { group: ConsistencyGroup; firstOffset: number; lastOffset: number },
  schemaId: number,
  parts: number,
  eachUpdate: boolean,
): AuditLine {
  return {
    topic: where.topic,
    partition: where.partition,
    offsets: [group.firstOffset, group.lastOffset],
    timestamp: where.timestamp,
    schemaId,
    ...summarizeGroup(group.group, parts, eachUpdate),
  }
}

/** A part of the older format that does not fit the group being joined (the held parts are dropped). */
export function joinErrorLine(where: Where, err: unknown, m: ReadRecord): AuditLine {
  return {
    ...where,
    error: { code: groupErrorCode(err), message: errorMessage(err) },
    headers: { groupSeq: m.headers?.[HEADERS.groupSeq]?.toString() },
  }
}

/** A marker with its group resolved from the updates topic, and the marker's ranges beside it. */
export function markerLine(
  where: Where,
  schemaId: number,
  marker: JournalRecord,
  group: ConsistencyGroup,
  eachUpdate: boolean,
): AuditLine {
  return {
    ...where,
    offsets: [where.offset, where.offset],
    schemaId,
    ...summarizeGroup(group, marker.parts, eachUpdate),
    ranges: marker.ranges,
    ...(marker.discarded !== undefined && marker.discarded.length > 0 ? { discarded: marker.discarded } : {}),
  }
}

/** A marker whose group could not be resolved. */
export function markerErrorLine(where: Where, marker: JournalRecord, err: unknown): AuditLine {
  return { ...where, groupSeq: marker.groupSeq, error: { code: groupErrorCode(err), message: errorMessage(err) } }
}

function groupErrorCode(err: unknown): string {
  return isXrcError(err) ? err.code : 'XRC_GROUP_INCOMPLETE'
}
