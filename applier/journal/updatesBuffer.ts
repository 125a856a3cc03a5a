/**
 * What the applier holds of the updates topic while markers wait to be
 * applied (schemas/markers.ts), as pure bookkeeping: the updates reader
 * (updatesReader.ts) feeds it the records it fetches and the markers the
 * journal names, and asks it what to decode, what to seek, when to pause a
 * partition and when the head marker is ready. No I/O.
 *
 * Per updates partition it keeps:
 * - read-ahead: records at or past the horizon (the highest toOffset of the
 *   markers seen), raw and undecoded: no marker has said yet whether they
 *   are read or set aside (a set-aside record may not decode);
 * - below the horizon, only what a marker can take: the first sighting of
 *   each seq an active marker takes at an offset it reads, and the tail
 *   (the first sighting of each seq after the last active marker's lastSeq
 *   at an offset it reads: a record set straddling the cut, which the next
 *   marker takes). Set-aside offsets are never decoded; re-sends of a seq
 *   already held, and seqs no marker can take any more, are dropped as they
 *   arrive, so a range full of re-sends holds each seq once.
 *
 * Bounds: a partition is paused when the head marker's offsets there are all
 * read and what is held beyond the head marker's needs (read-ahead plus
 * what later active markers take) reaches `readAheadBytes`; at most
 * `maxActive` markers are active (the others wait, unread, in a backlog).
 * Memory is therefore the head group plus readAheadBytes plus one fetch per
 * partition, whatever the backlog.
 *
 * A marker whose needs the held data cannot prove it serves (it reads below
 * what is held, takes a seq at or below one already dropped, reads an
 * offset left undecoded, or sets aside the offset of a held sighting)
 * re-seeks its partition to the lowest offset the active markers read, and
 * everything of that partition is read again: never a guess.
 */
import type { DiscardedRange, JournalRecord, UpdatesRange } from '../../schemas/journal.js'
import { readsOffset, rangeSeqs, type ReadRecordSet } from '../../schemas/markers.js'
import type { RecordSet, Update } from '../../schemas/recordSet.js'

/** Bytes counted per update held besides its data (the object and its strings, roughly). */
export const UPDATE_OVERHEAD_BYTES = 64

/**
 * Bytes counted per raw record held besides its value (its entry and its
 * Buffer object, roughly): read-ahead of tiny records (heartbeats, some 60
 * bytes of value) costs more heap than its values say.
 */
export const RAW_OVERHEAD_BYTES = 128

export interface UpdatesBufferOptions {
  /** Bytes a partition may hold beyond the head marker's needs before it is paused. */
  readAheadBytes: number
  /** Markers taken into account at once (default 32); later ones wait in the backlog. */
  maxActive?: number
}

/** What the reader must do after a call: start or seek partitions, decode records now needed. */
export interface BufferEffects {
  /** Partitions seen for the first time: read from this offset. */
  start: Map<number, number>
  /** Partitions to read again from this offset (what was held there is dropped). */
  seek: Map<number, number>
  /** Read-ahead records a marker now reads: decode them and `admit` each. */
  decode: { partition: number; offset: number; value: Buffer }[]
}

/** What to do with a fetched record. */
export type Arrival =
  /** Not a partition of any marker, or an offset already passed (a re-delivery): nothing. */
  | 'ignore'
  /** Above the next offset expected: records are missing (deleted by retention, or a stale fetch). */
  | 'gap'
  /** Held undecoded as read-ahead. */
  | 'raw'
  /** An active marker reads it: decode it and `admit` it. */
  | 'decode'
  /** Inside the markers' ranges but read by none (set aside): dropped, never decoded. */
  | 'skip'

interface ActiveRange {
  range: UpdatesRange
  discarded: DiscardedRange[]
  /** Seqs of the range held (first sighting). */
  seen: Set<number>
}

interface ActiveMarker {
  marker: JournalRecord
  journalOffset: number
  ranges: Map<number, ActiveRange>
}

interface HeldEntry {
  offset: number
  recordSet: RecordSet
  bytes: number
}

interface Partition {
  /** Next offset expected from the reader. */
  next: number
  /** Lowest offset whose records are still represented (held, or known to be unneeded). */
  floor: number
  /** Highest toOffset of the markers activated: below it records were decided on arrival. */
  horizon: number
  raw: { offset: number; value: Buffer }[]
  rawBytes: number
  held: HeldEntry[]
  heldBytes: number
  /** Offsets in [floor, horizon) left undecoded (read by no active marker when they arrived). */
  unread: Set<number>
  /** Offsets handed out to decode, not admitted yet. */
  decoding: Set<number>
  /** The last activated marker's range here, and the seqs it took through. */
  last: UpdatesRange | undefined
  takenThrough: number
  /** Tail: seq -> offset of its first sighting after takenThrough. */
  tail: Map<number, number>
}

function emptyEffects(): BufferEffects {
  return { start: new Map(), seek: new Map(), decode: [] }
}

function readsAny(range: UpdatesRange): boolean {
  return range.toOffset > range.fromOffset
}

/**
 * `value` itself when it is the whole of its memory (a record the Kafka client copied out of its response),
 * else a copy of it: a view keeps its whole buffer (a fetch response's chunk) alive as long as it is held.
 */
export function detached(value: Buffer): Buffer {
  return value.byteOffset === 0 && value.buffer.byteLength === value.length ? value : Buffer.from(value)
}

function rawBytes(value: Buffer): number {
  return value.length + RAW_OVERHEAD_BYTES
}

function updateBytes(u: Update): number {
  return u.data.length + UPDATE_OVERHEAD_BYTES
}

function isDiscarded(discarded: readonly DiscardedRange[], seq: number): boolean {
  return discarded.some((d) => seq >= d.firstSeq && seq <= d.lastSeq)
}

/** Whether `active` takes `seq` from `offset` (before the first-sighting rule). */
function takes(active: ActiveRange, offset: number, seq: number): boolean {
  const r = active.range
  return readsOffset(r, offset) && seq >= r.firstSeq && seq <= r.lastSeq && !isDiscarded(active.discarded, seq)
}

export class UpdatesBuffer {
  readonly #readAheadBytes: number
  readonly #maxActive: number
  readonly #parts = new Map<number, Partition>()
  readonly #active: ActiveMarker[] = []
  readonly #backlog: { marker: JournalRecord; journalOffset: number }[] = []

  constructor(options: UpdatesBufferOptions) {
    this.#readAheadBytes = options.readAheadBytes
    this.#maxActive = Math.max(1, options.maxActive ?? 32)
  }

  /** Bytes held over all partitions (read-ahead plus decoded updates). */
  get heldBytes(): number {
    let n = 0
    for (const p of this.#parts.values()) n += p.rawBytes + p.heldBytes
    return n
  }

  /** Markers announced and not released (active plus backlog). */
  get pendingMarkers(): number {
    return this.#active.length + this.#backlog.length
  }

  /** The marker to apply next, when one is announced. */
  get head(): { marker: JournalRecord; journalOffset: number } | undefined {
    return this.#active[0] ?? this.#backlog[0]
  }

  /** Partitions known, with the next offset each expects. */
  positions(): Map<number, number> {
    return new Map([...this.#parts].map(([partition, p]) => [partition, p.next]))
  }

  /** A marker read from the journal, in journal order. */
  announce(marker: JournalRecord, journalOffset: number): BufferEffects {
    this.#backlog.push({ marker, journalOffset })
    const effects = emptyEffects()
    this.#activate(effects)
    return effects
  }

  /** The head marker was applied (or skipped): what only it needed is dropped. */
  release(): BufferEffects {
    const effects = emptyEffects()
    const head = this.#active.shift()
    if (head === undefined) return effects
    for (const partition of head.ranges.keys()) this.#prune(partition)
    this.#activate(effects)
    return effects
  }

  /** A fetched record at `offset` of `partition`; see Arrival. */
  arrive(partition: number, offset: number, value: Buffer): Arrival {
    const p = this.#parts.get(partition)
    if (p === undefined || offset < p.next) return 'ignore'
    if (offset > p.next) return 'gap'
    p.next = offset + 1
    if (offset >= p.horizon) {
      p.raw.push({ offset, value: detached(value) })
      p.rawBytes += rawBytes(value)
      return 'raw'
    }
    if (this.#readBySomeone(partition, p, offset)) {
      p.decoding.add(offset)
      return 'decode'
    }
    p.unread.add(offset)
    return 'skip'
  }

  /**
   * Records that the offsets from `partition`'s next one up to `offset` are
   * gone (retention); none of them is needed by an active marker (the reader
   * halts first when one is). Reading goes on at `offset`.
   */
  skipTo(partition: number, offset: number): void {
    const p = this.#parts.get(partition)
    if (p === undefined || offset <= p.next) return
    p.next = offset
    p.floor = Math.max(p.floor, offset)
  }

  /** The lowest offset of `partition` in [from, to) an active marker reads, if any. */
  neededIn(partition: number, from: number, to: number): number | undefined {
    let lowest: number | undefined
    for (const a of this.#active) {
      const r = a.ranges.get(partition)?.range
      if (r === undefined) continue
      for (let o = Math.max(from, r.fromOffset); o < Math.min(to, r.toOffset); o++) {
        if (readsOffset(r, o)) {
          if (lowest === undefined || o < lowest) lowest = o
          break
        }
      }
    }
    return lowest
  }

  /** The decoded record set at `offset` (handed out by arrive or an effect): keeps what a marker can take. */
  admit(partition: number, offset: number, recordSet: RecordSet): void {
    const p = this.#parts.get(partition)
    if (p === undefined || !p.decoding.delete(offset)) return // dropped by a seek meanwhile
    const kept: Update[] = []
    for (const u of recordSet.updates) if (this.#keep(partition, p, offset, u.seq)) kept.push(u)
    const foreign = recordSet.controller !== partition
    if (kept.length === 0 && !foreign && recordSet.session === this.head?.marker.session) return
    // a walked update's data is a view of its whole record: when some of it is dropped, what is kept is copied out,
    // so that the bytes held are the bytes counted
    const updates =
      kept.length === recordSet.updates.length ? kept : kept.map((u) => ({ ...u, data: Buffer.from(u.data) }))
    const entry: HeldEntry = {
      offset,
      recordSet: { ...recordSet, updates },
      bytes: updates.reduce((n, u) => n + updateBytes(u), UPDATE_OVERHEAD_BYTES),
    }
    insertSorted(p.held, entry)
    p.heldBytes += entry.bytes
  }

  /** Whether the head marker's offsets are all read and admitted (so resolveMarker can run). */
  headReady(): boolean {
    const head = this.#active[0]
    if (head === undefined) return false
    for (const [partition, a] of head.ranges) {
      if (!readsAny(a.range)) continue
      const p = this.#parts.get(partition)
      if (p === undefined || p.next < a.range.toOffset) return false
      for (const o of p.decoding) if (o < a.range.toOffset) return false
    }
    return true
  }

  /** Per controller of the head marker: the record sets held at its offsets, in offset order. */
  readForHead(controller: number): ReadRecordSet[] {
    const r = this.#active[0]?.ranges.get(controller)?.range
    const p = this.#parts.get(controller)
    if (r === undefined || p === undefined) return []
    return p.held
      .filter((e) => e.offset >= r.fromOffset && e.offset < r.toOffset)
      .map((e) => ({ offset: e.offset, recordSet: e.recordSet }))
  }

  /** Head marker's partitions still to read: partition -> [next, toOffset). */
  headWaiting(): Map<number, { next: number; toOffset: number }> {
    const waiting = new Map<number, { next: number; toOffset: number }>()
    for (const [partition, a] of this.#active[0]?.ranges ?? []) {
      const p = this.#parts.get(partition)
      if (readsAny(a.range) && p !== undefined && p.next < a.range.toOffset)
        waiting.set(partition, { next: p.next, toOffset: a.range.toOffset })
    }
    return waiting
  }

  /**
   * Whether `partition` should be paused: the head marker's offsets there are
   * all read and what is held beyond its needs reaches readAheadBytes.
   */
  shouldPause(partition: number): boolean {
    const p = this.#parts.get(partition)
    if (p === undefined) return true
    const headRange = this.#active[0]?.ranges.get(partition)?.range
    const headTo = headRange !== undefined && readsAny(headRange) ? headRange.toOffset : Number.NEGATIVE_INFINITY
    if (p.next < headTo) return false
    let beyond = p.rawBytes
    for (const e of p.held) if (e.offset >= headTo || headRange === undefined) beyond += e.bytes
    return beyond >= this.#readAheadBytes
  }

  // ---- internals

  #activate(effects: BufferEffects): void {
    while (this.#active.length < this.#maxActive && this.#backlog.length > 0) {
      const next = this.#backlog.shift() as { marker: JournalRecord; journalOffset: number }
      const active: ActiveMarker = { ...next, ranges: new Map() }
      this.#active.push(active)
      for (const range of next.marker.ranges ?? []) {
        const discarded = (next.marker.discarded ?? []).filter((d) => d.controller === range.controller)
        active.ranges.set(range.controller, { range, discarded, seen: new Set() })
        this.#activateRange(range.controller, active, effects)
      }
    }
  }

  #activateRange(partition: number, marker: ActiveMarker, effects: BufferEffects): void {
    const a = marker.ranges.get(partition) as ActiveRange
    const r = a.range
    let p = this.#parts.get(partition)
    if (p === undefined) {
      p = newPartition(r.fromOffset)
      this.#parts.set(partition, p)
      effects.start.set(partition, r.fromOffset)
    }
    if (readsAny(r) && this.#needsReseek(p, a)) {
      this.#reseek(partition, p, effects)
    } else {
      // held tail sightings the range takes become its own
      for (const e of p.held) {
        if (e.offset < r.fromOffset || e.offset >= Math.min(r.toOffset, p.horizon)) continue
        for (const u of e.recordSet.updates) if (takes(a, e.offset, u.seq)) a.seen.add(u.seq)
      }
      // read-ahead below the range's end is decided now
      const stay: { offset: number; value: Buffer }[] = []
      for (const raw of p.raw) {
        if (raw.offset >= r.toOffset) {
          stay.push(raw)
          continue
        }
        p.rawBytes -= rawBytes(raw.value)
        if (readsOffset(r, raw.offset)) {
          p.decoding.add(raw.offset)
          effects.decode.push({ partition, offset: raw.offset, value: raw.value })
        } else {
          p.unread.add(raw.offset)
        }
      }
      p.raw = stay
      p.horizon = Math.max(p.horizon, r.toOffset)
    }
    if (readsAny(r) || rangeSeqs(r) > 0) p.last = r
    p.takenThrough = Math.max(p.takenThrough, r.lastSeq)
    this.#prune(partition)
  }

  /** Whether what is held of the partition cannot be shown to serve the range (see the module comment). */
  #needsReseek(p: Partition, a: ActiveRange): boolean {
    const r = a.range
    if (r.fromOffset < p.floor) return true
    if (p.last !== undefined && r.fromOffset < p.last.fromOffset) return true
    if (rangeSeqs(r) > 0 && r.firstSeq <= p.takenThrough) return true
    for (const o of p.unread) if (readsOffset(r, o)) return true
    for (const [seq, offset] of p.tail)
      if (seq >= r.firstSeq && seq <= r.lastSeq && !readsOffset(r, offset)) return true
    return false
  }

  /** Drops what the partition holds and reads it again from the lowest offset an active marker reads. */
  #reseek(partition: number, p: Partition, effects: BufferEffects): void {
    let from = Number.POSITIVE_INFINITY
    let horizon = Number.NEGATIVE_INFINITY
    for (const m of this.#active) {
      const a = m.ranges.get(partition)
      if (a === undefined || !readsAny(a.range)) continue
      a.seen.clear()
      from = Math.min(from, a.range.fromOffset)
      horizon = Math.max(horizon, a.range.toOffset)
    }
    Object.assign(p, newPartition(from), { horizon, last: p.last, takenThrough: p.takenThrough })
    effects.start.delete(partition)
    effects.seek.set(partition, from)
  }

  #readBySomeone(partition: number, p: Partition, offset: number): boolean {
    if (p.last !== undefined && readsOffset(p.last, offset)) return true
    return this.#active.some((m) => {
      const r = m.ranges.get(partition)?.range
      return r !== undefined && readsOffset(r, offset)
    })
  }

  /** The keep rule on arrival: the first sighting of a seq an active marker takes here, or of a tail seq. */
  #keep(partition: number, p: Partition, offset: number, seq: number): boolean {
    for (const m of this.#active) {
      const a = m.ranges.get(partition)
      if (a === undefined || !takes(a, offset, seq)) continue
      if (a.seen.has(seq)) return false
      a.seen.add(seq)
      return true
    }
    if (p.last === undefined || !readsOffset(p.last, offset) || seq <= p.takenThrough || p.tail.has(seq)) return false
    p.tail.set(seq, offset)
    return true
  }

  /** Drops what no active marker and no later one can take; moves the floor up. */
  #prune(partition: number): void {
    const p = this.#parts.get(partition)
    if (p === undefined) return
    for (const seq of p.tail.keys()) if (seq <= p.takenThrough) p.tail.delete(seq)
    const ranges: ActiveRange[] = []
    for (const m of this.#active) {
      const a = m.ranges.get(partition)
      if (a !== undefined) ranges.push(a)
    }
    let floor = p.horizon
    for (const a of ranges) if (readsAny(a.range)) floor = Math.min(floor, a.range.fromOffset)
    for (const offset of p.tail.values()) floor = Math.min(floor, offset)
    floor = Math.max(floor, p.floor)
    const kept: HeldEntry[] = []
    let bytes = 0
    for (const e of p.held) {
      if (e.offset < floor) continue
      const updates = e.recordSet.updates.filter(
        (u) => p.tail.get(u.seq) === e.offset || ranges.some((a) => takes(a, e.offset, u.seq)),
      )
      const readByActive = ranges.some((a) => readsOffset(a.range, e.offset))
      if (updates.length === 0 && !readByActive) continue
      const entry =
        updates.length === e.recordSet.updates.length
          ? e
          : {
              offset: e.offset,
              recordSet: { ...e.recordSet, updates },
              bytes: updates.reduce((n, u) => n + updateBytes(u), UPDATE_OVERHEAD_BYTES),
            }
      kept.push(entry)
      bytes += entry.bytes
    }
    p.held = kept
    p.heldBytes = bytes
    for (const o of p.unread) if (o < floor) p.unread.delete(o)
    p.floor = floor
  }
}

function newPartition(from: number): Partition {
  return {
    next: from,
    floor: from,
    horizon: from,
    raw: [],
    rawBytes: 0,
    held: [],
    heldBytes: 0,
    unread: new Set(),
    decoding: new Set(),
    last: undefined,
    takenThrough: Number.NEGATIVE_INFINITY,
    tail: new Map(),
  }
}

function insertSorted(held: HeldEntry[], entry: HeldEntry): void {
  let i = held.length
  while (i > 0 && (held[i - 1] as HeldEntry).offset > entry.offset) i--
  held.splice(i, 0, entry)
}
