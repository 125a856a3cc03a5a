/**
 * Consistency-group formation (US 5,734,818): pure, no I/O.
 *
 * The mover feeds it each controller's record sets in partition order
 * (`add`), from any interleaving of partitions, and asks it to `cut` groups.
 * Per controller it keeps the next expected seq, the latest time reported,
 * and the updates read but not yet journaled.
 *
 * Consistency time. A controller "covers" time τ when every write of it with
 * time <= τ has been read. A heartbeat at h covers h (later writes exceed h).
 * A write at t covers only t - 1: times are non-decreasing in seq order, so
 * another write at exactly t may still come. T = the minimum over ALL
 * configured controllers of what they cover; undefined until every one has
 * reported. A group at T therefore holds every write with time <= T, and a
 * write Y issued after X was acknowledged (time(Y) > time(X)) is never
 * journaled before X.
 *
 * Resync window events (schemas/resyncWindow.ts) ride on heartbeats: a
 * controller's event waits in its stream, in partition order, until a cut's
 * time covers the event's time, or for a BEGIN passes its S, and goes into
 * that group (`windows`, in (time, controller) order). The event's time is
 * above every earlier time of its controller, so a group never holds a
 * controller's later write without its event; and no group past a BEGIN's S
 * goes without it, though the BEGIN's own time may be later than the group's
 * (controllerStream.ts: takeWindows, and the re-send rule).
 *
 * A cut is final: its updates leave the buffer. When a group cannot be
 * journaled the mover discards this former and restores a new one from the
 * journal's last group (see mover/journal/recovery.ts), which re-reads what was lost.
 *
 * Each controller's seqs, times and buffer are a ControllerStream
 * (controllerStream.ts); the former holds them, T and the last group.
 *
 * Markers (schemas/markers.ts). A cut also names, per controller, what the
 * group takes from the updates partition: the offsets of the record sets its
 * updates came from, the seqs taken, the offsets inside set aside and the
 * seqs discarded inside. schemas/markers.ts resolveMarker, given those
 * record sets, gives back exactly the cut's updates (the property test in
 * groupFormer.markers.test.ts). A marker must fit in one journal record, so
 * a cut lists at most CutOptions.maxSetAside offsets: past it the group is
 * cut at an earlier time (see there).
 */
import { XrcError } from '../../lib/errors.js'
import type {
  ConsistencyGroup,
  ControllerMark,
  DiscardedRange,
  JournalRecord,
  JournalUpdate,
  JournalWindow,
  UpdatesRange,
} from '../../schemas/journal.js'
import type { RecordSet } from '../../schemas/recordSet.js'
import { viewOf, type RecordSetView } from '../../schemas/updateList.js'
import { ControllerStream, type TakenSeqs } from './controllerStream.js'
import { boundGroup, type SizedUpdate } from './groupBound.js'
import { orderGroupUpdates } from '../../schemas/journalOrder.js'
import { checkRecordSet, indexVolumes, type SessionLayout, type VolumeIndex } from '../intake/index.js'

/** Where a former resumes: the journal's last complete group. */
export interface FormerCheckpoint {
  groupSeq: number
  groupTime: number
  controllers: readonly ControllerMark[]
}

/** Seqs an operator chose to discard (see GroupFormer.discardMissing): never journaled. */
export interface DiscardedSeqs {
  controller: number
  firstSeq: number
  lastSeq: number
}

/** What `add` did with a record set. */
export type AddOutcome = (
  | { kind: 'accepted'; updates: number }
  | { kind: 'heartbeat' }
  /** Every seq was seen before (a re-send): nothing kept. */
  | { kind: 'duplicate'; droppedUpdates: number }
  /** The head was seen before: only the new tail was kept. */
  | { kind: 'overlap'; updates: number; droppedUpdates: number }
) & {
  /** Set when this record set was taken across a gap the operator accepted. */
  discarded?: DiscardedSeqs
}

/**
 * A cut group, with its size for metrics and the early-cut bound, and its
 * marker's ranges: the journal holds only the marker (`markerOf`), the
 * updates stay on the updates topic.
 */
export interface FormedGroup extends ConsistencyGroup {
  /**
   * The group's updates as the applier will take them from the marker (journal order, one block each, last
   * writer kept): computed on first read only, since the mover itself journals just the marker.
   */
  readonly updates: JournalUpdate[]
  /** Bytes of block data the group takes (its writes, before last-writer-wins). */
  bytes: number
  /** Blocks the group takes (its writes split into blocks, before last-writer-wins). */
  blocks: number
  /** Writes taken from the buffer (before splitting into blocks and last-writer-wins). */
  writes: number
  /** Per configured controller (ascending), what the group takes from its updates partition. */
  ranges: UpdatesRange[]
  /** Seqs an operator discarded inside the ranges. */
  discarded: DiscardedRange[]
  /** Whole re-sends inside the ranges left readable because maxSetAside was reached (harmless, decoded). */
  duplicatesLeft: number
}

/** The journal record of a group: its marker (one record: part 0 of 1, no updates). */
export function markerOf(group: FormedGroup): JournalRecord {
  return {
    session: group.session,
    groupSeq: group.groupSeq,
    groupTime: group.groupTime,
    part: 0,
    parts: 1,
    updates: [],
    controllers: [...group.controllers],
    windows: [...(group.windows ?? [])],
    ranges: group.ranges.map((r) => ({ ...r, setAside: [...r.setAside] })),
    discarded: [...group.discarded],
  }
}

export interface CutOptions {
  /**
   * Bound on the block bytes taken: the group is cut at an earlier
   * consistency time T' <= T (the time of its last write) so that a backlog
   * never makes one huge group. All writes at T' are taken, so a group may
   * exceed the bound by the writes sharing its last time.
   */
  maxBytes?: number
  /**
   * Bound on the offsets the marker lists as set aside (its size: see
   * schemas/wireSizes.ts markerSetAsideRoom). Dead letters must be listed
   * (a reader must not decode them): when those inside the ranges exceed
   * the bound, the group is cut at the latest earlier T' (a time of one of
   * its writes) whose ranges hold few enough, taking every write at T'.
   * Whole re-sends are listed while room is left, and left readable past
   * it. Throws XRC_RECORD_TOO_LARGE when even the group at its first
   * write's time holds too many (more dead letters than the bound between
   * writes of one time).
   */
  maxSetAside?: number
}

export interface GroupFormer {
  /**
   * Takes a controller's record set read at `offset` of its partition.
   * Offsets of one controller must increase. Throws XRC_INVALID_RECORD
   * (malformed, unknown controller), XRC_SEQUENCE_GAP (a seq is missing:
   * never skipped), XRC_TIME_REGRESSION (a time earlier than the
   * controller's latest) or XRC_DUPLICATE_SEQUENCE (seqs seen before but
   * with times later than the controller's latest: not a re-send). A throw
   * changes nothing, so the caller may set the record aside and go on with
   * this controller (the mover freezes it) or with the others.
   */
  add(offset: number, recordSet: RecordSet | RecordSetView): AddOutcome
  /** The seq the controller's next record set must start at; undefined before its first one. */
  expectedSeq(controller: number): number | undefined
  /**
   * The operator accepted that the controller's seqs up to its next record
   * set are lost: that record set is taken across the gap (its times must
   * still be later than the controller's latest), and `add` reports the
   * discarded seqs.
   */
  discardMissing(controller: number): void
  /**
   * A record of the controller's partition at `offset` was set aside
   * (dead-lettered): a mover restarting from the marks need not read it again.
   */
  skipped(controller: number, offset: number): void
  /** T: the minimum over configured controllers of the time each covers; undefined until all reported. */
  consistencyTime(): number | undefined
  /**
   * Cuts the next group: every buffered write with time <= T (or T', see
   * CutOptions) in (time, controller, seq) order, one block per update, the
   * last writer of each (volume, block) kept. Undefined when T has not moved
   * past the last group's time; a group with no updates is still a group.
   */
  cut(options?: CutOptions): FormedGroup | undefined
  /** The last group cut (or restored): seq 0 and time undefined when none. */
  checkpoint(): { groupSeq: number; groupTime: number | undefined }
  /** Block bytes buffered (read, not yet cut) for a controller. */
  bufferedBytes(controller: number): number
  totalBufferedBytes(): number
  /** Block bytes a cut would take now, counting up to `limit` at most. */
  cuttableBytes(limit?: number): number
  /** Controllers that have reported nothing yet (T waits for them). */
  silentControllers(): number[]
}

/** A buffered write a cut may take, with its record set's offset. */
type Candidate = SizedUpdate & { offset: number }

export function createGroupFormer(options: { layout: SessionLayout; restore?: FormerCheckpoint }): GroupFormer {
  return new ConsistencyGroupFormer(options.layout, options.restore)
}

class ConsistencyGroupFormer implements GroupFormer {
  readonly #layout: SessionLayout
  readonly #volumes: VolumeIndex
  /** By controller id, ascending. */
  readonly #streams = new Map<number, ControllerStream>()
  #groupSeq: number
  #groupTime: number | undefined

  constructor(layout: SessionLayout, restore: FormerCheckpoint | undefined) {
    this.#layout = layout
    this.#volumes = indexVolumes(layout)
    for (const c of [...layout.controllers].sort((a, b) => a.id - b.id))
      this.#streams.set(c.id, new ControllerStream(c.id))
    this.#groupSeq = restore?.groupSeq ?? 0
    this.#groupTime = restore?.groupTime
    // a controller no longer configured is left out: the mover logs it
    for (const mark of restore?.controllers ?? []) this.#streams.get(mark.controller)?.restore(mark)
  }

  add(offset: number, recordSet: RecordSet | RecordSetView): AddOutcome {
    const rs = viewOf(recordSet)
    checkRecordSet(rs, this.#layout, this.#volumes, { partition: rs.controller, offset: String(offset) })
    return (this.#streams.get(rs.controller) as ControllerStream).add(offset, rs)
  }

  expectedSeq(controller: number): number | undefined {
    return this.#streams.get(controller)?.nextSeq
  }

  discardMissing(controller: number): void {
    const s = this.#streams.get(controller)
    if (s === undefined)
      throw new XrcError('XRC_NOT_FOUND', { reason: 'controller', controller, session: this.#layout.name })
    s.acceptGap()
  }

  skipped(controller: number, offset: number): void {
    this.#streams.get(controller)?.skipped(offset)
  }

  consistencyTime(): number | undefined {
    let t: number | undefined
    for (const s of this.#streams.values()) {
      if (s.covered === undefined) return undefined
      if (t === undefined || s.covered < t) t = s.covered
    }
    return t
  }

  cut(cutOptions: CutOptions = {}): FormedGroup | undefined {
    const t = this.consistencyTime()
    if (t === undefined || (this.#groupTime !== undefined && t <= this.#groupTime)) return undefined
    const maxSetAside = cutOptions.maxSetAside ?? Number.POSITIVE_INFINITY
    const bounded = boundGroup(this.#takeUpTo(t), t, cutOptions.maxBytes)
    const { time, taken, deadLetters } = this.#boundSetAside(bounded.time, bounded.taken, maxSetAside)
    let duplicateRoom = maxSetAside - deadLetters
    const ranges: UpdatesRange[] = []
    const discarded: DiscardedRange[] = []
    let duplicatesLeft = 0
    for (const [id, seqs] of this.#takenSeqs(taken)) {
      const cut = (this.#streams.get(id) as ControllerStream).cutRange(seqs, duplicateRoom)
      duplicateRoom -= cut.duplicatesListed
      duplicatesLeft += cut.duplicatesLeft
      ranges.push(cut.range)
      discarded.push(...cut.discarded)
    }
    const blockSize = this.#layout.blockSize
    let updates: JournalUpdate[] | undefined
    const bytes = taken.reduce((n, x) => n + x.bytes, 0)
    const windows: JournalWindow[] = [...this.#streams.values()].flatMap((s) => s.takeWindows(time))
    windows.sort((a, b) => a.time - b.time || a.controller - b.controller)
    this.#groupSeq += 1
    this.#groupTime = time
    return {
      session: this.#layout.name,
      groupSeq: this.#groupSeq,
      groupTime: time,
      get updates() {
        return (updates ??= orderGroupUpdates(taken, blockSize))
      },
      controllers: [...this.#streams.values()].map((s) => s.mark()),
      ...(windows.length > 0 ? { windows } : {}),
      bytes,
      blocks: bytes / blockSize,
      writes: taken.length,
      ranges,
      discarded,
      duplicatesLeft,
    }
  }

  checkpoint(): { groupSeq: number; groupTime: number | undefined } {
    return { groupSeq: this.#groupSeq, groupTime: this.#groupTime }
  }

  bufferedBytes(controller: number): number {
    return this.#streams.get(controller)?.buffer.bytes ?? 0
  }

  totalBufferedBytes(): number {
    return [...this.#streams.values()].reduce((n, s) => n + s.buffer.bytes, 0)
  }

  cuttableBytes(limit = Number.POSITIVE_INFINITY): number {
    const t = this.consistencyTime()
    if (t === undefined) return 0
    let sum = 0
    for (const s of this.#streams.values()) sum = s.buffer.bytesUpTo(t, sum, limit)
    return sum
  }

  silentControllers(): number[] {
    return [...this.#streams.values()].filter((s) => s.covered === undefined).map((s) => s.id)
  }

  /** Every buffered write with time <= t, controller by controller, with its record set's offset. */
  #takeUpTo(t: number): Candidate[] {
    const taken: Candidate[] = []
    for (const s of this.#streams.values()) {
      const controller = s.id
      s.buffer.takeUpTo(t, (offset, update, bytes) => taken.push({ controller, update, bytes, offset }))
    }
    return taken
  }

  /** Per configured controller (ascending), how many writes the cut takes (each buffer's oldest) and their seqs. */
  #takenSeqs(taken: readonly Candidate[]): Map<number, TakenSeqs> {
    const seqs = new Map<number, TakenSeqs>()
    for (const id of this.#streams.keys()) seqs.set(id, { count: 0, firstSeq: 0, lastSeq: 0 })
    for (const { controller, update } of taken) {
      const s = seqs.get(controller) as TakenSeqs
      if (s.count === 0 || update.seq < s.firstSeq) s.firstSeq = update.seq
      if (s.count === 0 || update.seq > s.lastSeq) s.lastSeq = update.seq
      s.count++
    }
    return seqs
  }

  /** Dead letters inside the ranges of a cut of `taken`. */
  #deadLettersIn(taken: readonly Candidate[]): number {
    const spans = new Map<number, { from: number; to: number }>()
    for (const { controller, offset } of taken) {
      const span = spans.get(controller)
      if (span === undefined) spans.set(controller, { from: offset, to: offset + 1 })
      else {
        span.from = Math.min(span.from, offset)
        span.to = Math.max(span.to, offset + 1)
      }
    }
    let n = 0
    for (const [id, { from, to }] of spans) n += (this.#streams.get(id) as ControllerStream).deadLettersIn(from, to)
    return n
  }

  /** The cut bounded to `max` dead letters inside its ranges (CutOptions.maxSetAside). */
  #boundSetAside(
    time: number,
    taken: Candidate[],
    max: number,
  ): { time: number; taken: Candidate[]; deadLetters: number } {
    const deadLetters = this.#deadLettersIn(taken)
    if (deadLetters <= max) return { time, taken, deadLetters }
    // the dead letters inside grow with the cut's time: the latest time of a write that keeps them within max
    const times = [...new Set(taken.map((x) => x.update.time))].sort((a, b) => a - b)
    const upTo = (tau: number): Candidate[] => taken.filter((x) => x.update.time <= tau)
    let lo = 0
    let hi = times.length - 1
    let best = -1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if (this.#deadLettersIn(upTo(times[mid] as number)) <= max) {
        best = mid
        lo = mid + 1
      } else hi = mid - 1
    }
    if (best < 0) {
      throw new XrcError('XRC_RECORD_TOO_LARGE', {
        reason: 'journalMarker',
        groupTime: String(times[0]),
        deadLetters: this.#deadLettersIn(upTo(times[0] as number)),
        maxSetAside: max,
        setting: 'mover.journalRecordMaxBytes',
      })
    }
    const bestTime = times[best] as number
    const bounded = upTo(bestTime)
    return { time: bestTime, taken: bounded, deadLetters: this.#deadLettersIn(bounded) }
  }
}
