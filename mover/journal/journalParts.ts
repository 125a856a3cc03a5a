/**
 * Kafka headers of a journal record. A group is journaled as one marker
 * (part 0 of 1, schemas/markers.ts); journals of the older format held a
 * group's updates in parts 0..parts-1 of one transaction, which readers
 * (the applier, the mover's tail) still route by these headers. Movers no
 * longer write parts, so the splitting of a group into parts is gone.
 */
import type { JournalRecord } from '../../schemas/journal.js'
import { HEADERS } from '../../schemas/topicNames.js'

/** Kafka headers of a journal record (decimal strings), so readers can route parts without decoding them. */
export function journalHeaders(record: JournalRecord): Record<string, string> {
  return {
    [HEADERS.session]: record.session,
    [HEADERS.groupSeq]: String(record.groupSeq),
    [HEADERS.groupTime]: String(record.groupTime),
    [HEADERS.part]: String(record.part),
    [HEADERS.parts]: String(record.parts),
    ...(record.part === record.parts - 1 && record.controllers.length > 0
      ? { [HEADERS.resumeOffsets]: record.controllers.map((m) => `${m.controller}:${m.resumeOffset}`).join(',') }
      : {}),
    ...(record.ranges !== undefined && record.ranges.length > 0
      ? {
          [HEADERS.fromOffsets]: record.ranges
            .filter((r) => r.toOffset > r.fromOffset)
            .map((r) => `${r.controller}:${r.fromOffset}`)
            .join(','),
        }
      : {}),
  }
}

/**
 * The offsets of a journal record's `xrc.resume-offsets` or `xrc.from-offsets` header (journalHeaders); undefined
 * when absent or malformed. An empty header (a marker that reads nothing) is an empty map.
 */
export function parseOffsetsHeader(header: string | undefined): Map<number, number> | undefined {
  if (header === undefined) return undefined
  const offsets = new Map<number, number>()
  if (header === '') return offsets
  for (const pair of header.split(',')) {
    const m = /^(\d+):(\d+)$/.exec(pair)
    if (m === null) return undefined
    offsets.set(Number(m[1]), Number(m[2]))
  }
  return offsets
}
