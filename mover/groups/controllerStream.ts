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
 * wait here, in partition order, until a cut takes them (`takeWindows`).
 * A new event's time is a fresh tick above everything its controller sent
 * before, so one at or below the latest time is a re-send (a restarted
 * primary sends its sidefile again, window entries among them, and an event
 * has no seq of its own to tell it by): a duplicate, not a regression. While
 * one waits, the mark points a restart back at it.
 */
import { XrcError } from '../../lib/errors.js'
import type { ControllerMark, JournalWindow } from '../../schemas/journal.js'
import type { RecordSet, Update } from '../../schemas/recordSet.js'
import type { AddOutcome, DiscardedSeqs } from './groupFormer.js'
import { UpdateBuffer } from './updateBuffer.js'

/** A resync window event read, waiting for a group whose time covers it. */
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
  add(offset: number, rs: RecordSet): AddOutcome {
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
  }

  /** Removes and returns the window events with time <= `time` (a cut at that time takes them), oldest first. */
  takeWindows(time: number): JournalWindow[] {
    let n = 0
    while (n < this.#windows.length && (this.#windows[n] as QueuedWindow).window.time <= time) n++
    return this.#windows.splice(0, n).map((w) => w.window)
  }

  /** The mark of this controller after a cut: its last journaled seq and time, and where to read again. */
  mark(): ControllerMark {
    const head = this.buffer.first()
    if (this.#nextSeq === undefined || this.#nextOffset === undefined)
      throw new Error(`invariant: controller ${this.id} covers time ${this.#covered} but has no seq`)
    // a window event still waiting before the first buffered write: a restart reads again from it
    const win = this.#windows[0]
    if (win !== undefined && (head === undefined || win.offset < head.offset))
      return { controller: this.id, lastSeq: win.nextSeq - 1, lastTime: win.window.time - 1, resumeOffset: win.offset }
    // lastTime: every write of this controller up to it is journaled (>= the group's time, maybe later)
    return head
      ? { controller: this.id, lastSeq: head.update.seq - 1, lastTime: head.update.time - 1, resumeOffset: head.offset }
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

  #isStale(rs: RecordSet): boolean {
    const nextSeq = this.#nextSeq as number
    return rs.kind === 'HEARTBEAT' ? rs.firstSeq < nextSeq : rs.lastSeq < nextSeq
  }

  /** Every seq was taken before: a re-send, dropped; unless its times are later (another stream's seqs). */
  #duplicate(offset: number, rs: RecordSet): AddOutcome {
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
  #gap(offset: number, rs: RecordSet, nextSeq: number): DiscardedSeqs {
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

  #heartbeat(offset: number, rs: RecordSet): AddOutcome {
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
  #updates(offset: number, rs: RecordSet, discarded: DiscardedSeqs | undefined): AddOutcome {
    const dropped = this.#nextSeq === undefined || discarded ? 0 : this.#nextSeq - rs.firstSeq
    const kept = dropped === 0 ? rs.updates : rs.updates.slice(dropped)
    const first = kept[0] as Update
    const last = kept[kept.length - 1] as Update
    // covered is latest - 1 after a write (equal times allowed)
    // and latest after a heartbeat or a restore (strictly later)
    if (this.#covered !== undefined && first.time <= this.#covered)
      this.#regression(offset, `seq ${first.seq}`, first.time)
    this.buffer.push(offset, kept)
    this.#advance({ nextSeq: rs.lastSeq + 1, latest: last.time, covered: last.time - 1, offset })
    return dropped === 0
      ? { kind: 'accepted', updates: kept.length }
      : { kind: 'overlap', updates: kept.length, droppedUpdates: dropped }
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
