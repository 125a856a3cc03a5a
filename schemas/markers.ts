/**
 * Markers: the updates topic is the journal's data (schemas/journal.ts,
 * `ranges`). A marker names, per controller, the updates-partition offsets
 * [fromOffset, toOffset) to read, the offsets inside them set aside (never
 * read), and the seqs [firstSeq, lastSeq] the group takes, minus the seqs an
 * operator discarded. This module turns a marker and the record sets read at
 * its offsets into the group's updates, exactly as the mover cut them. Pure.
 *
 * Rules (what the mover guarantees when it writes a marker):
 * - Every seq of [firstSeq, lastSeq] that was not discarded is in a record
 *   set read in the range; the first sighting by offset is the one the
 *   mover took (a later one is a re-send of the same write).
 * - Seqs outside [firstSeq, lastSeq] in the range belong to the group
 *   before (a record set straddling the last cut) or after; they are left.
 * - Set-aside offsets are never decoded: a dead letter may not decode.
 * Anything else (a seq missing, an update later than the group's time, a
 * record of another controller or session) throws XRC_GROUP_INCOMPLETE
 * naming it: applying a group that misses a write would leave the secondary
 * at no consistency time at all.
 */
import { XrcError } from '../lib/errors.js'
import type { ConsistencyGroup, DiscardedRange, JournalRecord, JournalUpdate, UpdatesRange } from './journal.js'
import { orderGroupUpdates, type TakenUpdate } from './journalOrder.js'
import type { RecordSet } from './recordSet.js'

/**
 * A record set read from an updates partition, with its offset. `recordSet`
 * may be a getter that decodes: resolveMarker reads it only at offsets the
 * marker reads (never outside the range, never a set-aside one), so a reader
 * may hand every record of the partition undecoded.
 */
export interface ReadRecordSet {
  offset: number
  readonly recordSet: RecordSet
}

/** Whether a journal record is a marker (else a group of the older format, its updates in its parts). */
export function isMarker(record: Pick<JournalRecord, 'ranges'>): boolean {
  return (record.ranges?.length ?? 0) > 0
}

/** Whether `offset` of the range is to be read (inside it and not set aside). */
export function readsOffset(range: UpdatesRange, offset: number): boolean {
  return offset >= range.fromOffset && offset < range.toOffset && !range.setAside.includes(offset)
}

/** Seqs the range takes (before discards): lastSeq - firstSeq + 1. */
export function rangeSeqs(range: Pick<UpdatesRange, 'firstSeq' | 'lastSeq'>): number {
  return Math.max(0, range.lastSeq - range.firstSeq + 1)
}

/**
 * The group a marker stands for: its updates taken from `read(controller)`
 * (the record sets at the range's offsets to read, in offset order; records
 * outside the range or set aside are ignored) in (time, controller, seq)
 * order, one block per update, the last writer of each (volume, block)
 * kept. `journalOffset` names the marker in errors.
 */
export function resolveMarker(
  marker: JournalRecord,
  read: (controller: number) => Iterable<ReadRecordSet>,
  blockSize: number,
  journalOffset: number,
): ConsistencyGroup {
  const fail = (problem: string): XrcError =>
    new XrcError('XRC_GROUP_INCOMPLETE', {
      reason: 'marker',
      offset: String(journalOffset),
      groupSeq: marker.groupSeq,
      problem,
    })
  const taken: TakenUpdate[] = []
  for (const range of marker.ranges ?? []) {
    const discarded = (marker.discarded ?? []).filter((d) => d.controller === range.controller)
    const seen = new Set<number>()
    for (const entry of read(range.controller)) {
      const offset = entry.offset
      if (!readsOffset(range, offset)) continue
      const recordSet = entry.recordSet // decoded only here: a set-aside record may not decode
      if (recordSet.controller !== range.controller || recordSet.session !== marker.session) {
        throw fail(
          `offset ${offset} of partition ${range.controller} holds a record set of controller ` +
            `${recordSet.controller} in session "${recordSet.session}"`,
        )
      }
      for (const update of recordSet.updates) {
        if (update.seq < range.firstSeq || update.seq > range.lastSeq || seen.has(update.seq)) continue
        if (isDiscarded(discarded, update.seq)) continue
        if (update.time > marker.groupTime) {
          throw fail(
            `controller ${range.controller} seq ${update.seq} at offset ${offset} has time ${update.time}, ` +
              `after the group's ${marker.groupTime}`,
          )
        }
        seen.add(update.seq)
        taken.push({ controller: range.controller, update })
      }
    }
    const missing = firstMissing(range, seen, discarded)
    if (missing !== undefined) {
      throw fail(
        `controller ${range.controller} seq ${missing} is not in offsets ` +
          `[${range.fromOffset}, ${range.toOffset}) of its partition` +
          (range.setAside.length > 0 ? ` (set aside: ${range.setAside.join(', ')})` : ''),
      )
    }
  }
  const updates: JournalUpdate[] = orderGroupUpdates(taken, blockSize)
  return {
    session: marker.session,
    groupSeq: marker.groupSeq,
    groupTime: marker.groupTime,
    updates,
    controllers: marker.controllers,
    ...(marker.windows !== undefined && marker.windows.length > 0 ? { windows: marker.windows } : {}),
  }
}

function isDiscarded(discarded: readonly DiscardedRange[], seq: number): boolean {
  return discarded.some((d) => seq >= d.firstSeq && seq <= d.lastSeq)
}

/** The first seq of the range neither taken nor discarded; undefined when none is missing. */
function firstMissing(
  range: UpdatesRange,
  seen: ReadonlySet<number>,
  discarded: readonly DiscardedRange[],
): number | undefined {
  if (seen.size === rangeSeqs(range)) return undefined
  for (let seq = range.firstSeq; seq <= range.lastSeq; seq++) {
    if (!seen.has(seq) && !isDiscarded(discarded, seq)) return seq
  }
  return undefined
}
