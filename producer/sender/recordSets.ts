/**
 * Cutting a controller's durable updates into record sets, heartbeats, and
 * their Kafka headers. Pure: the sender does the I/O. Sizes are the upper
 * bounds of schemas/wireSizes.ts.
 *
 * The contract with the mover (schemas/recordSet.ts): per controller, seqs
 * contiguous and times non-decreasing in seq order; an UPDATES record set
 * covers firstSeq..lastSeq with minTime/maxTime of its updates; a HEARTBEAT
 * has no updates, firstSeq = lastSeq + 1 = the next seq, and
 * minTime = maxTime = a time every later write of the controller exceeds.
 * A resync window event from the sidefile goes as such a heartbeat, at the
 * event's time, carrying it (schemas/resyncWindow.ts), in its place among
 * the controller's record sets.
 */
import type { RecordSet, Update } from '../../schemas/recordSet.js'
import type { ResyncWindow } from '../../schemas/resyncWindow.js'
import { recordSetBaseBytes, recordSetUpdateBytes, recordSetWindowBytes } from '../../schemas/wireSizes.js'
import type { WindowEntry } from '../sidefile/index.js'

export interface RecordSetLimits {
  /** Most updates in one record set. */
  maxUpdates: number
  /**
   * Largest encoded record set (an upper bound is used); one update larger than it still gets a record set of its own.
   */
  maxBytes: number
}

/** A record set and the last item it covers (whose sidefile position is trimmed once Kafka has it). */
export interface Cut<T> {
  recordSet: RecordSet
  last: T
  /** Upper bound of its encoded size. */
  bytes: number
}

/**
 * Cuts items (seq-contiguous, times non-decreasing) into record sets of at
 * most `maxUpdates` updates and `maxBytes` bytes each, in order: UPDATES
 * for host writes, RESYNC for resync reads (`kind`), a new record set
 * wherever the kind changes. Throws RangeError when the input breaks the
 * order: that is a bug upstream, and sending it would halt the mover.
 */
export function cutRecordSets<T extends { update: Update; kind?: 'UPDATES' | 'RESYNC' }>(
  session: string,
  controller: number,
  items: readonly T[],
  limits: RecordSetLimits,
): Cut<T>[] {
  const cuts: Cut<T>[] = []
  const base = recordSetBaseBytes(session)
  let current: { kind: 'UPDATES' | 'RESYNC'; updates: Update[]; bytes: number; last: T } | undefined
  let prev: Update | undefined
  const close = (): void => {
    if (current === undefined) return
    const u = current.updates
    const first = u[0] as Update
    const last = u[u.length - 1] as Update
    cuts.push({
      recordSet: {
        session,
        controller,
        kind: current.kind,
        firstSeq: first.seq,
        lastSeq: last.seq,
        minTime: first.time,
        maxTime: last.time,
        updates: u,
      },
      last: current.last,
      bytes: current.bytes,
    })
    current = undefined
  }
  for (const item of items) {
    const u = item.update
    if (prev !== undefined && (u.seq !== prev.seq + 1 || u.time < prev.time)) {
      throw new RangeError(
        `controller ${controller}: update seq ${u.seq} time ${u.time} ` +
          `does not follow seq ${prev.seq} time ${prev.time}`,
      )
    }
    prev = u
    const size = recordSetUpdateBytes(u)
    const kind = item.kind ?? 'UPDATES'
    if (
      current !== undefined &&
      (current.kind !== kind || current.updates.length >= limits.maxUpdates || current.bytes + size > limits.maxBytes)
    )
      close()
    current ??= { kind, updates: [], bytes: base, last: item }
    current.updates.push(u)
    current.bytes += size
    current.last = item
  }
  close()
  return cuts
}

/**
 * A heartbeat of a controller whose every seq below `nextSeq`
 * was sent, at `time`; with a resync window event at that time.
 */
export function heartbeatRecordSet(
  session: string,
  controller: number,
  nextSeq: number,
  time: number,
  window?: ResyncWindow,
): RecordSet {
  return {
    session,
    controller,
    kind: 'HEARTBEAT',
    firstSeq: nextSeq,
    lastSeq: nextSeq - 1,
    minTime: time,
    maxTime: time,
    updates: [],
    ...(window ? { window } : {}),
  }
}

/** What the sender reads from a sidefile: a write or resync read, or a resync window event. */
export type StreamItem = { kind?: 'UPDATES' | 'RESYNC'; update: Update } | { kind: 'WINDOW'; entry: WindowEntry }

/** The last seq an item's record set covers: its update's, or for a window event the one before the next seq. */
export function lastSeqOf(item: StreamItem): number {
  return item.kind === 'WINDOW' ? item.entry.nextSeq - 1 : item.update.seq
}

/**
 * cutRecordSets over a sidefile's items in order, where a window event
 * becomes a heartbeat record set of its own that carries it, between the
 * record sets of the writes before and after it.
 */
export function cutStream<T extends StreamItem>(
  session: string,
  controller: number,
  items: readonly T[],
  limits: RecordSetLimits,
): Cut<T>[] {
  type Writes = { item: T; update: Update; kind?: 'UPDATES' | 'RESYNC' }
  const cuts: Cut<T>[] = []
  let run: Writes[] = []
  const flush = (): void => {
    for (const cut of cutRecordSets(session, controller, run, limits)) cuts.push({ ...cut, last: cut.last.item })
    run = []
  }
  for (const item of items) {
    if (item.kind !== 'WINDOW') {
      const w = item as T & { update: Update; kind?: 'UPDATES' | 'RESYNC' }
      run.push({ item, update: w.update, ...(w.kind ? { kind: w.kind } : {}) })
      continue
    }
    flush()
    const { nextSeq, time, window } = (item as T & { entry: WindowEntry }).entry
    cuts.push({
      recordSet: heartbeatRecordSet(session, controller, nextSeq, time, window),
      last: item,
      bytes: recordSetBaseBytes(session) + recordSetWindowBytes(window),
    })
  }
  flush()
  return cuts
}
