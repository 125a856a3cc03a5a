/**
 * One controller's stream as the group former sees it, pure: the next seq
 * it expects, the latest time reported, the time it covers, the offset
 * after the last record set read, and its buffered updates.
 *
 * "Covers τ": every write of the controller with time <= τ has been read. A
 * heartbeat at h covers h (later writes exceed h); a write at t covers only
 * t - 1 (another write at exactly t may still come); a restored mark covers
 * its lastTime (everything up to it is journaled, and what is read again
 * later is later).
 *
 * `add` checks everything before its first change, so a throw leaves the
 * stream as it was.
 *
 * Resync window events (schemas/resyncWindow.ts) ride on heartbeats and
 * wait here, in partition order, until a cut takes them (`takeWindows`):
 * a cut at T takes an event with time <= T, and a BEGIN as soon as T passes
 * its S (see takeWindows). A new event's time is a fresh tick above
 * everything its controller sent before, so one at or below the latest time
 * is a re-send (a restarted primary sends its sidefile again, window entries
 * among them, and an event has no seq of its own to tell it by): a
 * duplicate, not a regression. While one waits, the mark points a restart
 * back at it, with a lastTime that does not pass the S of a BEGIN waiting
 * first.
 *
 * Markers (schemas/markers.ts): the stream also keeps, from its buffer's
 * head on, the offsets it did not take (dead-lettered: `skipped`; whole
 * re-sends: `duplicate`) and the seqs an operator discarded, so that a cut
 * can name its range of the partition (`cutRange`).
 */
import { XrcError } from '../../lib/errors.js'
import type { ControllerMark, DiscardedRange, JournalWindow, UpdatesRange } from '../../schemas/journal.js'
import type { RecordSet } from '../../schemas/recordSet.js'
import { viewOf, type RecordSetView } from '../../schemas/updateList.js'
import type { AddOutcome, DiscardedSeqs } from './groupFormer.js'
import { UpdateBuffer } from './updateBuffer.js'

/** An offset of the partition the stream did not take. */
interface AsideOffset {
  offset: number
  /** Dead-lettered (must never be read back: it may not decode); else a whole re-send (harmless to read). */
  deadLetter: boolean
}

/** What a cut takes from one controller (see ControllerStream.cutRange). */
export interface TakenSeqs {
  /** Updates taken: the buffer's `count` oldest. */
  count: number
  /** Lowest and highest seq taken (ignored when count is 0). */
  firstSeq: number
  lastSeq: number
}

/** A range a cut took, with the operator-discarded seqs inside it. */
export interface CutRange {
  range: UpdatesRange
  discarded: DiscardedRange[]
  /** Whole re-sends inside the range listed in setAside. */
  duplicatesListed: number
  /** Whole re-sends inside the range left readable (over the room given). */
  duplicatesLeft: number
}

/** A resync window event read, waiting for a group that carries it (takeWindows). */
interface QueuedWindow {
  offset: number
  /** The heartbeat's next seq: every seq below it came before the event. */
  nextSeq: number
  window: JournalWindow
}

export class ControllerStream {
  readonly buffer = new UpdateBuffer()
  #windows: QueuedWindow[] = []
  #nextSeq: number | undefined
  #latest: number | undefined
  #covered: number | undefined
  /** Offset after the last record set read (or the restored resume offset). */
  #nextOffset: number | undefined
  /** The operator accepted a gap before the next record set (discardMissing). */
  #acceptGap = false
  /** Offsets not taken, from the buffer's head on, ascending. */
  #asides: AsideOffset[] = []
  /** Seqs discarded by an operator from the buffer's head on, ascending. */
  #discards: DiscardedSeqs[] = []

  constructor(readonly id: number) {}

  /** The seq the next record set must start at; undefined before the first one. */
  get nextSeq(): number | undefined {
    return this.#nextSeq
  }

  /** The time this controller covers; undefined until it reported. */
  get covered(): number | undefined {
    return this.#covered
  }

  /** Resumes after a journaled group: every write of this controller up to mark.lastTime is journaled. */
  restore(mark: ControllerMark): void {
    this.#nextSeq = mark.lastSeq + 1
    this.#latest = mark.lastTime
    this.#covered = mark.lastTime
    this.#nextOffset = mark.resumeOffset
  }

  /** Takes a record set already checked against the session's layout (see GroupFormer.add for the throws). */
  add(offset: number, recordSet: RecordSet | RecordSetView): AddOutcome {
    const outcome = this.#add(offset, viewOf(recordSet))
    if (outcome.kind === 'duplicate') this.#aside(offset, false)
    if (outcome.discarded !== undefined) this.#discards.push(outcome.discarded)
    return outcome
  }

  #add(offset: number, rs: RecordSetView): AddOutcome {
    this.#checkOffset(offset)
    let discarded: DiscardedSeqs | undefined
    if (this.#nextSeq !== undefined) {
      if (this.#isStale(rs)) return this.#duplicate(offset, rs)
      if (rs.firstSeq > this.#nextSeq) discarded = this.#gap(offset, rs, this.#nextSeq)
    }
    if (rs.window && discarded === undefined && this.#latest !== undefined && rs.maxTime <= this.#latest) {
      this.#nextOffset = offset + 1
      return { kind: 'duplicate', droppedUpdates: 0 }
    }
    const outcome = rs.kind === 'HEARTBEAT' ? this.#heartbeat(offset, rs) : this.#updates(offset, rs, discarded)
    return discarded ? { ...outcome, discarded } : outcome
  }

  /** The operator accepted that the seqs up to the next record set are lost. */
  acceptGap(): void {
    this.#acceptGap = true
  }

  /** A record at `offset` was set aside: a restart from the marks need not read it again. */
  skipped(offset: number): void {
    if (this.#nextOffset === undefined || offset >= this.#nextOffset) this.#nextOffset = offset + 1
    this.#aside(offset, true)
  }

  /** Dead-lettered offsets in [from, to). */
  deadLettersIn(from: number, to: number): number {
    let n = 0
    for (const a of this.#asides) if (a.deadLetter && a.offset >= from && a.offset < to) n++
    return n
  }

  /**
   * A cut takes the buffer's `taken.count` oldest updates: they leave it, and
   * this is the marker's range of them. From the first to the last record
   * set they came from; the offsets inside it set aside are every
   * dead-lettered one and the whole re-sends up to `duplicateRoom` (the rest
   * stay readable: every seq of a re-send was taken at a lower offset, or
   * lies outside the range's seqs, or was discarded, so the first-sighting
   * rule never takes it). When nothing is taken the range is empty at the
   * mark's resume offset. Call mark() after it.
   */
  cutRange(taken: TakenSeqs, duplicateRoom: number): CutRange {
    const span = this.buffer.drop(taken.count)
    let cut: CutRange
    if (span === undefined) {
      const mark = this.mark()
      cut = {
        range: {
          controller: this.id,
          fromOffset: mark.resumeOffset,
          toOffset: mark.resumeOffset,
          firstSeq: mark.lastSeq + 1,
          lastSeq: mark.lastSeq,
          setAside: [],
        },
        discarded: [],
        duplicatesListed: 0,
        duplicatesLeft: 0,
      }
    } else {
      const from = span.firstOffset
      const to = span.lastOffset + 1
      const setAside: number[] = []
      let room = duplicateRoom
      let duplicatesLeft = 0
      for (const a of this.#asides) {
        if (a.offset < from || a.offset >= to) continue
        if (a.deadLetter || room > 0) {
          setAside.push(a.offset)
          if (!a.deadLetter) room--
        } else duplicatesLeft++
      }
      const discarded = this.#discards
        .filter((d) => d.lastSeq >= taken.firstSeq && d.firstSeq <= taken.lastSeq)
        .map((d) => ({
          controller: this.id,
          firstSeq: Math.max(d.firstSeq, taken.firstSeq),
          lastSeq: Math.min(d.lastSeq, taken.lastSeq),
        }))
      cut = {
        range: {
          controller: this.id,
          fromOffset: from,
          toOffset: to,
          firstSeq: taken.firstSeq,
          lastSeq: taken.lastSeq,
          setAside,
        },
        discarded,
        duplicatesListed: duplicateRoom - room,
        duplicatesLeft,
      }
    }
    // what the next range can hold: from the buffer's head (or the next record set) on
    const head = this.buffer.head()
    const nextOffset = head?.offset ?? this.#nextOffset ?? 0
    const nextSeq = head?.seq ?? this.#nextSeq ?? 0
    if (this.#asides.length > 0 && (this.#asides[0] as AsideOffset).offset < nextOffset)
      this.#asides = this.#asides.filter((a) => a.offset >= nextOffset)
    if (this.#discards.length > 0) this.#discards = this.#discards.filter((d) => d.lastSeq >= nextSeq)
    return cut
  }

  /** Notes an offset not taken, keeping them ascending (skipped may name an earlier offset again). */
  #aside(offset: number, deadLetter: boolean): void {
    const last = this.#asides[this.#asides.length - 1]
    if (last === undefined || last.offset < offset) {
      this.#asides.push({ offset, deadLetter })
      return
    }
    const at = this.#asides.findIndex((a) => a.offset >= offset)
    const there = this.#asides[at] as AsideOffset
    if (there.offset === offset) there.deadLetter ||= deadLetter
    else this.#asides.splice(at, 0, { offset, deadLetter })
  }

  /**
   * Removes and returns the window events a cut at `time` carries, oldest first, in partition order: each with
   * time <= `time`, and a BEGIN also when `time` is past its S. The BEGIN's own time B is a tick taken at the
   * resume, well after S, and its heartbeat covers B, so the controller alone no longer holds T below B: a group
   * with S < T < B is possible (the other controllers cover T). The controller's writes with times in (S, T]
   * were only marked, never sent, so that group lacks them: it must carry the BEGIN, which opens the window as
   * of S (the applier calls every group with T > S inconsistent until the END). Taking the BEGIN early only
   * opens the window sooner: every record of the controller after it has a time above B (> T, in a later group),
   * and those before it one below S (already in this or an earlier group), or, when a suspension during a resync
   * kept the earlier S, below the suspension's own tick: before every write it marked.
   */
  takeWindows(time: number): JournalWindow[] {
    let n = 0
    while (n < this.#windows.length && carries(time, (this.#windows[n] as QueuedWindow).window)) n++
    return this.#windows.splice(0, n).map((w) => w.window)
  }

  /** The mark of this controller after a cut: its last journaled seq and time, and where to read again. */
  mark(): ControllerMark {
    const head = this.buffer.head()
    if (this.#nextSeq === undefined || this.#nextOffset === undefined)
      throw new Error(`invariant: controller ${this.id} covers time ${this.#covered} but has no seq`)
    // a window event still waiting before the first buffered write: a restart reads again from it. A BEGIN
    // waits there only while the groups stay at or below its S (takeWindows), and its lastTime is S, not B - 1:
    // a restored former must not cut past S before it has read the BEGIN again. (Every record before the BEGIN
    // was at or below S, or taken by a group past S, which would have taken the BEGIN too: so a re-send read
    // after it is no later than S, and no XRC_DUPLICATE_SEQUENCE.) A BEGIN behind an END waiting needs no such
    // care: until the END is applied, the epoch it ends keeps every group after its own S inconsistent
    const win = this.#windows[0]
    if (win !== undefined && (head === undefined || win.offset < head.offset)) {
      const w = win.window
      const lastTime = w.event === 'BEGIN' ? Math.min(w.time - 1, w.consistentUntil) : w.time - 1
      return { controller: this.id, lastSeq: win.nextSeq - 1, lastTime, resumeOffset: win.offset }
    }
    // lastTime: every write of this controller up to it is journaled (>= the group's time, maybe later)
    return head
      ? { controller: this.id, lastSeq: head.seq - 1, lastTime: head.time - 1, resumeOffset: head.offset }
      : {
          controller: this.id,
          lastSeq: this.#nextSeq - 1,
          lastTime: this.#covered as number,
          resumeOffset: this.#nextOffset,
        }
  }

  #checkOffset(offset: number): void {
    if (this.#nextOffset !== undefined && offset < this.#nextOffset) {
      throw new XrcError('XRC_USAGE', {
        reason: 'offsetsNotIncreasing',
        controller: this.id,
        offset,
        lastOffset: this.#nextOffset - 1,
      })
    }
  }

  #isStale(rs: RecordSetView): boolean {
    const nextSeq = this.#nextSeq as number
    return rs.kind === 'HEARTBEAT' ? rs.firstSeq < nextSeq : rs.lastSeq < nextSeq
  }

  /** Every seq was taken before: a re-send, dropped; unless its times are later (another stream's seqs). */
  #duplicate(offset: number, rs: RecordSetView): AddOutcome {
    // a re-send carries the times it had; seqs seen before with later times are another stream's
    // (say, a controller that lost its state and counts again): +1 because a restored latest may
    // be one below the true time of the last seq (see mark())
    if (rs.kind !== 'HEARTBEAT' && this.#latest !== undefined && rs.maxTime > this.#latest + 1) {
      throw new XrcError('XRC_DUPLICATE_SEQUENCE', {
        controller: this.id,
        partition: this.id,
        offset: String(offset),
        firstSeq: rs.firstSeq,
        lastSeq: rs.lastSeq,
        latest: this.#latest,
        time: rs.maxTime,
      })
    }
    this.#nextOffset = offset + 1
    return { kind: 'duplicate', droppedUpdates: rs.updates.length }
  }

  /** Seqs nextSeq..firstSeq-1 are missing: never skipped unless the operator accepted it. */
  #gap(offset: number, rs: RecordSetView, nextSeq: number): DiscardedSeqs {
    if (!this.#acceptGap) {
      throw new XrcError('XRC_SEQUENCE_GAP', {
        controller: this.id,
        partition: this.id,
        offset: String(offset),
        expected: nextSeq,
        got: rs.firstSeq,
        lastSeq: rs.lastSeq,
        lastMissing: rs.firstSeq - 1,
      })
    }
    return { controller: this.id, firstSeq: nextSeq, lastSeq: rs.firstSeq - 1 }
  }

  #heartbeat(offset: number, rs: RecordSetView): AddOutcome {
    if (this.#latest !== undefined && rs.maxTime < this.#latest)
      this.#regression(offset, `heartbeat (next seq ${rs.firstSeq})`, rs.maxTime)
    this.#advance({ nextSeq: rs.firstSeq, latest: rs.maxTime, covered: rs.maxTime, offset })
    if (rs.window)
      this.#windows.push({
        offset,
        nextSeq: rs.firstSeq,
        window: { controller: this.id, time: rs.maxTime, ...rs.window },
      })
    return { kind: 'heartbeat' }
  }

  /** Buffers the record set's updates not taken before (all of them after an accepted gap). */
  #updates(offset: number, rs: RecordSetView, discarded: DiscardedSeqs | undefined): AddOutcome {
    const dropped = this.#nextSeq === undefined || discarded ? 0 : this.#nextSeq - rs.firstSeq
    const list = rs.updates
    const kept = list.length - dropped
    const firstTime = list.time(dropped)
    const lastTime = list.time(list.length - 1)
    // covered is latest - 1 after a write (equal times allowed)
    // and latest after a heartbeat or a restore (strictly later)
    if (this.#covered !== undefined && firstTime <= this.#covered)
      this.#regression(offset, `seq ${list.seq(dropped)}`, firstTime)
    this.buffer.push(offset, list, dropped)
    this.#advance({ nextSeq: rs.lastSeq + 1, latest: lastTime, covered: lastTime - 1, offset })
    return dropped === 0
      ? { kind: 'accepted', updates: kept }
      : { kind: 'overlap', updates: kept, droppedUpdates: dropped }
  }

  #advance(to: { nextSeq: number; latest: number; covered: number; offset: number }): void {
    this.#nextSeq = to.nextSeq
    this.#latest = to.latest
    this.#covered = to.covered
    this.#nextOffset = to.offset + 1
    this.#acceptGap = false
  }

  #regression(offset: number, what: string, time: number): never {
    const latest = this.#latest as number
    throw new XrcError('XRC_TIME_REGRESSION', {
      // covered = latest after a heartbeat or a restore: a later write must be strictly later
      reason: this.#covered === latest ? 'mustExceed' : 'default',
      controller: this.id,
      partition: this.id,
      offset: String(offset),
      what,
      time,
      latest,
    })
  }
}

/** Whether a cut at `time` carries `w`: its time is covered, or it is a BEGIN and `time` is past its S. */
function carries(time: number, w: JournalWindow): boolean {
  return w.time <= time || (w.event === 'BEGIN' && time > w.consistentUntil)
}
