/**
 * Splitting a consistency group into journal records of bounded size, so
 * that no group size is refused: parts 0..parts-1, written in one Kafka
 * transaction, split between blocks (never inside one), the controller
 * marks and the resync window events on the last part only
 * (schemas/journal.ts). Pure.
 *
 * Sizes are upper bounds of the Avro encoding (schemas/wireSizes.ts), so a
 * part never exceeds the bound once encoded; the writer checks the encoded
 * size anyway.
 */
import { XrcError } from '../../lib/errors.js'
import type { ConsistencyGroup, JournalRecord, JournalUpdate } from '../../schemas/journal.js'
import { HEADERS } from '../../schemas/topicNames.js'
import {
  CONTROLLER_MARK_BYTES,
  journalRecordBaseBytes,
  journalUpdateBytes,
  journalWindowBytes,
} from '../../schemas/wireSizes.js'

/**
 * The journal records of `group`, each at most `maxRecordBytes` once
 * encoded in the wire format. Updates keep their order across parts. Throws
 * XRC_RECORD_TOO_LARGE when one update with its framing, or the marks, do
 * not fit (the config check on mover.journalRecordMaxBytes prevents it).
 */
export function splitGroup(group: ConsistencyGroup, maxRecordBytes: number): JournalRecord[] {
  const framing = journalRecordBaseBytes(group.session)
  const windows = group.windows ?? []
  const marksBytes =
    group.controllers.length * CONTROLLER_MARK_BYTES + windows.reduce((n, w) => n + journalWindowBytes(w), 0)
  if (framing + marksBytes > maxRecordBytes) {
    throw new XrcError('XRC_RECORD_TOO_LARGE', {
      reason: 'journalMarks',
      controllers: group.controllers.length,
      maxBytes: maxRecordBytes,
      setting: 'mover.journalRecordMaxBytes',
    })
  }
  const chunks: JournalUpdate[][] = []
  let chunk: JournalUpdate[] = []
  let size = framing
  for (const u of group.updates) {
    const n = journalUpdateBytes(u)
    if (framing + n > maxRecordBytes) {
      throw new XrcError('XRC_RECORD_TOO_LARGE', {
        reason: 'journalBlock',
        bytes: u.data.length,
        maxBytes: maxRecordBytes,
        setting: 'mover.journalRecordMaxBytes',
        groupTime: String(group.groupTime),
        controller: u.controller,
      })
    }
    if (size + n > maxRecordBytes) {
      chunks.push(chunk)
      chunk = []
      size = framing
    }
    chunk.push(u)
    size += n
  }
  chunks.push(chunk)
  // the last part carries the marks: when they do not fit beside its updates, they get a part of their own
  if (size + marksBytes > maxRecordBytes) chunks.push([])
  return chunks.map((updates, part) => ({
    session: group.session,
    groupSeq: group.groupSeq,
    groupTime: group.groupTime,
    part,
    parts: chunks.length,
    updates,
    controllers: part === chunks.length - 1 ? [...group.controllers] : [],
    windows: part === chunks.length - 1 ? [...windows] : [],
  }))
}

/** Kafka headers of a journal record (decimal strings), so readers can route parts without decoding them. */
export function journalHeaders(record: JournalRecord): Record<string, string> {
  return {
    [HEADERS.session]: record.session,
    [HEADERS.groupSeq]: String(record.groupSeq),
    [HEADERS.groupTime]: String(record.groupTime),
    [HEADERS.part]: String(record.part),
    [HEADERS.parts]: String(record.parts),
  }
}
