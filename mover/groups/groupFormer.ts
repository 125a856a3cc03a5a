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
 * A cut is final: its updates leave the buffer. When a group cannot be
 * journaled the mover discards this former and restores a new one from the
 * journal's last group (see recovery.ts), which re-reads what was lost.
 */
import { XrcError } from '../../lib/errors.js'
import type { ConsistencyGroup, ControllerMark } from '../../schemas/journal.js'
import type { RecordSet, Update } from '../../schemas/recordSet.js'
import { orderGroupUpdates, type TakenUpdate } from './journalOrder.js'
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

/** A cut group, with its size for metrics and the early-cut bound. */
export interface FormedGroup extends ConsistencyGroup {
  /** Bytes of block data in `updates`. */
  bytes: number
  /** Writes taken from the buffer (before splitting into blocks and last-writer-wins). */
  writes: number
}

export interface CutOptions {
  /**
   * Bound on the block bytes taken: the group is cut at an earlier
   * consistency time T' <= T (the time of its last write) so that a backlog
   * never makes one huge group. All writes at T' are taken, so a group may
   * exceed the bound by the writes sharing its last time.
   */
  maxBytes?: number
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
  add(offset: number, recordSet: RecordSet): AddOutcome
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

interface Entry {
  offset: number
  updates: Update[]
  /** Index of the first update not yet cut. */
  next: number
}

interface ControllerState {
  id: number
  nextSeq: number | undefined
  latest: number | undefined
  covered: number | undefined
  /** Offset after the last record set read (or the restored resume offset). */
  nextOffset: number | undefined
  /** The operator accepted a gap before the next record set (discardMissing). */
  acceptGap: boolean
  entries: Entry[]
  head: number
  bytes: number
}

export function createGroupFormer(options: { layout: SessionLayout; restore?: FormerCheckpoint }): GroupFormer {
  const { layout } = options
  const volumes: VolumeIndex = indexVolumes(layout)
  const states = new Map<number, ControllerState>()
  for (const c of [...layout.controllers].sort((a, b) => a.id - b.id)) {
    states.set(c.id, {
      id: c.id,
      nextSeq: undefined,
      latest: undefined,
      covered: undefined,
      nextOffset: undefined,
      acceptGap: false,
      entries: [],
      head: 0,
      bytes: 0,
    })
  }
  let groupSeq = options.restore?.groupSeq ?? 0
  let groupTime = options.restore?.groupTime
  for (const mark of options.restore?.controllers ?? []) {
    const s = states.get(mark.controller)
    if (s === undefined) continue // a controller no longer configured: the mover logs it
    // Every write of this controller up to lastTime is journaled: what is read again from resumeOffset is later.
    Object.assign(s, {
      nextSeq: mark.lastSeq + 1,
      latest: mark.lastTime,
      covered: mark.lastTime,
      nextOffset: mark.resumeOffset,
    })
  }

  function consistencyTime(): number | undefined {
    let t: number | undefined
    for (const s of states.values()) {
      if (s.covered === undefined) return undefined
      if (t === undefined || s.covered < t) t = s.covered
    }
    return t
  }

  function* buffered(s: ControllerState): Generator<Update> {
    for (let i = s.head; i < s.entries.length; i++) {
      const e = s.entries[i] as Entry
      for (let j = e.next; j < e.updates.length; j++) yield e.updates[j] as Update
    }
  }

  function firstBuffered(s: ControllerState): { entry: Entry; update: Update } | undefined {
    const entry = s.entries[s.head]
    return entry === undefined ? undefined : { entry, update: entry.updates[entry.next] as Update }
  }

  function dropCut(s: ControllerState, count: number): void {
    let left = count
    while (left > 0) {
      const e = s.entries[s.head] as Entry
      const n = Math.min(left, e.updates.length - e.next)
      for (let j = e.next; j < e.next + n; j++) s.bytes -= (e.updates[j] as Update).data.length
      e.next += n
      left -= n
      if (e.next === e.updates.length) s.head++
    }
    // compact now and then so the array does not keep drained entries alive
    if (s.head > 64 && s.head * 2 > s.entries.length) {
      s.entries = s.entries.slice(s.head)
      s.head = 0
    }
  }

  function regression(s: ControllerState, offset: number, what: string, time: number): never {
    throw new XrcError(
      'XRC_TIME_REGRESSION',
      `controller ${s.id}: ${what} has time ${time}, earlier than the controller's latest time ${s.latest}${s.covered === s.latest ? ' (all later writes must exceed it)' : ''}`,
      {
        context: { controller: s.id, partition: s.id, offset: String(offset), time, latest: s.latest },
      },
    )
  }

  return {
    add(offset, rs) {
      checkRecordSet(rs, layout, volumes, { partition: rs.controller, offset: String(offset) })
      const s = states.get(rs.controller) as ControllerState
      if (s.nextOffset !== undefined && offset < s.nextOffset) {
        throw new XrcError(
          'XRC_USAGE',
          `controller ${s.id}: record set at offset ${offset} fed after offset ${s.nextOffset - 1}; offsets must increase`,
        )
      }
      // every check comes before the first change: a throw leaves the controller as it was
      let discarded: DiscardedSeqs | undefined
      if (s.nextSeq !== undefined) {
        const isStale = rs.kind === 'HEARTBEAT' ? rs.firstSeq < s.nextSeq : rs.lastSeq < s.nextSeq
        if (isStale) {
          // a re-send carries the times it had; seqs seen before with later times are another stream's
          // (say, a controller that lost its state and counts again): +1 because a restored latest may
          // be one below the true time of the last seq (see cut's marks)
          if (rs.kind !== 'HEARTBEAT' && s.latest !== undefined && rs.maxTime > s.latest + 1) {
            throw new XrcError(
              'XRC_DUPLICATE_SEQUENCE',
              `controller ${s.id}: seqs ${rs.firstSeq}..${rs.lastSeq} at offset ${offset} were taken before, but with times up to ${s.latest}, and this record set has time ${rs.maxTime}: not a re-send`,
              {
                context: {
                  controller: s.id,
                  partition: s.id,
                  offset: String(offset),
                  firstSeq: rs.firstSeq,
                  lastSeq: rs.lastSeq,
                  latest: s.latest,
                },
              },
            )
          }
          s.nextOffset = offset + 1
          return { kind: 'duplicate', droppedUpdates: rs.updates.length }
        }
        if (rs.firstSeq > s.nextSeq) {
          if (!s.acceptGap) {
            throw new XrcError(
              'XRC_SEQUENCE_GAP',
              `controller ${s.id}: expected seq ${s.nextSeq}, got ${rs.firstSeq} (record set ${rs.firstSeq}..${rs.lastSeq} at offset ${offset}); seqs ${s.nextSeq}..${rs.firstSeq - 1} are missing`,
              {
                context: {
                  controller: s.id,
                  partition: s.id,
                  offset: String(offset),
                  expected: s.nextSeq,
                  got: rs.firstSeq,
                },
              },
            )
          }
          discarded = { controller: s.id, firstSeq: s.nextSeq, lastSeq: rs.firstSeq - 1 }
        }
      }
      const withDiscarded = <T extends AddOutcome>(outcome: T): T => (discarded ? { ...outcome, discarded } : outcome)
      if (rs.kind === 'HEARTBEAT') {
        if (s.latest !== undefined && rs.maxTime < s.latest)
          regression(s, offset, `heartbeat (next seq ${rs.firstSeq})`, rs.maxTime)
        Object.assign(s, {
          nextSeq: rs.firstSeq,
          latest: rs.maxTime,
          covered: rs.maxTime,
          nextOffset: offset + 1,
          acceptGap: false,
        })
        return withDiscarded({ kind: 'heartbeat' })
      }
      const dropped = s.nextSeq === undefined || discarded ? 0 : s.nextSeq - rs.firstSeq
      const kept = dropped === 0 ? rs.updates : rs.updates.slice(dropped)
      const first = kept[0] as Update
      const last = kept[kept.length - 1] as Update
      // covered is latest - 1 after a write (equal times allowed) and latest after a heartbeat or a restore (strictly later)
      if (s.covered !== undefined && first.time <= s.covered) regression(s, offset, `seq ${first.seq}`, first.time)
      s.entries.push({ offset, updates: kept, next: 0 })
      for (const u of kept) s.bytes += u.data.length
      Object.assign(s, {
        nextSeq: rs.lastSeq + 1,
        latest: last.time,
        covered: last.time - 1,
        nextOffset: offset + 1,
        acceptGap: false,
      })
      return withDiscarded(
        dropped === 0
          ? { kind: 'accepted', updates: kept.length }
          : { kind: 'overlap', updates: kept.length, droppedUpdates: dropped },
      )
    },

    expectedSeq: (controller) => states.get(controller)?.nextSeq,

    discardMissing(controller) {
      const s = states.get(controller)
      if (s === undefined)
        throw new XrcError('XRC_NOT_FOUND', `controller ${controller} is not configured in session "${layout.name}"`, {
          context: { controller },
        })
      s.acceptGap = true
    },

    skipped(controller, offset) {
      const s = states.get(controller)
      if (s !== undefined && (s.nextOffset === undefined || offset >= s.nextOffset)) s.nextOffset = offset + 1
    },

    consistencyTime,

    cut(cutOptions = {}) {
      const t = consistencyTime()
      if (t === undefined || (groupTime !== undefined && t <= groupTime)) return undefined
      let taken: (TakenUpdate & { bytes: number })[] = []
      for (const s of states.values()) {
        for (const update of buffered(s)) {
          if (update.time > t) break
          taken.push({ controller: s.id, update, bytes: update.data.length })
        }
      }
      let time = t
      if (cutOptions.maxBytes !== undefined && taken.length > 0) {
        taken.sort((a, b) => a.update.time - b.update.time)
        let sum = 0
        const over = taken.findIndex((x) => (sum += x.bytes) > (cutOptions.maxBytes as number))
        if (over >= 0) {
          time = (taken[Math.max(over - 1, 0)] as TakenUpdate).update.time
          taken = taken.filter((x) => x.update.time <= time)
        }
      }
      const perController = new Map<number, number>()
      for (const x of taken) perController.set(x.controller, (perController.get(x.controller) ?? 0) + 1)
      for (const [id, n] of perController) dropCut(states.get(id) as ControllerState, n)
      const updates = orderGroupUpdates(taken, layout.blockSize)
      groupSeq += 1
      groupTime = time
      const controllers: ControllerMark[] = [...states.values()].map((s) => {
        const head = firstBuffered(s)
        if (s.nextSeq === undefined || s.nextOffset === undefined)
          throw new Error(`invariant: controller ${s.id} covers time ${s.covered} but has no seq`)
        // lastTime: every write of this controller up to it is journaled (>= the group's time, maybe later)
        return head
          ? {
              controller: s.id,
              lastSeq: head.update.seq - 1,
              lastTime: head.update.time - 1,
              resumeOffset: head.entry.offset,
            }
          : { controller: s.id, lastSeq: s.nextSeq - 1, lastTime: s.covered as number, resumeOffset: s.nextOffset }
      })
      return {
        session: layout.name,
        groupSeq,
        groupTime: time,
        updates,
        controllers,
        bytes: updates.reduce((n, u) => n + u.data.length, 0),
        writes: taken.length,
      }
    },

    checkpoint: () => ({ groupSeq, groupTime }),
    bufferedBytes: (controller) => states.get(controller)?.bytes ?? 0,
    totalBufferedBytes: () => [...states.values()].reduce((n, s) => n + s.bytes, 0),
    cuttableBytes(limit = Number.POSITIVE_INFINITY) {
      const t = consistencyTime()
      if (t === undefined) return 0
      let sum = 0
      for (const s of states.values()) {
        for (const u of buffered(s)) {
          if (u.time > t || sum >= limit) break
          sum += u.data.length
        }
      }
      return sum
    },
    silentControllers: () => [...states.values()].filter((s) => s.covered === undefined).map((s) => s.id),
  }
}
