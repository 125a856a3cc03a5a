/**
 * The sidefile's bookkeeping, with no I/O: which segment an entry goes to,
 * which entries are held, how far they are durable, what a trim releases,
 * and the byte bound with its queue of waiting writers. The sidefile
 * (sidefile.ts) does the file work around it.
 *
 * Positions are logical byte offsets in the whole sidefile (headers
 * included), so a segment is the span [base, end) and an entry is
 * [position, end). Held entries are those in [start, end); the bytes held
 * are `end - start`.
 *
 * Invariants (sidefileLedger.test.ts checks them over random runs):
 * - Segments are contiguous and sorted; the held range lies within them.
 * - An entry never spans two segments; a new segment opens when the open
 *   one (the last) would pass `segmentBytes` (an entry larger than that
 *   gets a segment of its own), or when it was sealed.
 * - The last segment is never released, so the latest entry survives
 *   trimming; a last segment trimmed empty past `rollBytes` is sealed, so
 *   the next entry opens a new segment and the old one can go.
 * - Bytes held never exceed `maxBytes`: place() is only called after
 *   admit() said 'now' or grant() handed the writer out.
 * - Waiting writers are granted space in FIFO order: one never overtakes
 *   an earlier one that does not fit yet.
 */

/** A segment: logical positions [base, end). */
export interface SegmentSpan {
  readonly base: number
  end: number
}

/** Where place() put an entry. */
export interface Placement {
  segment: SegmentSpan
  position: number
  end: number
  /** The entry opened this segment (its file does not exist yet). */
  opened: boolean
}

/** What append() may do with an entry of a given size now. */
export type Admission = 'now' | 'wait' | 'never'

export interface SidefileLedgerOptions {
  /** Bound on bytes held, headers included. */
  maxBytes: number
  /** Target segment size. */
  segmentBytes: number
  /** Bytes of the header framing each entry. */
  headerBytes: number
  /** Recovered segments (contiguous, sorted) and the end position of each entry in them. */
  segments?: SegmentSpan[]
  ends?: number[]
}

/** The pure core of a sidefile; `W` is what a waiting writer carries (its `size` is the payload bytes). */
export class SidefileLedger<W extends { size: number }> {
  readonly maxBytes: number
  readonly segmentBytes: number
  /** A last segment trimmed empty at or past this size is sealed. */
  readonly rollBytes: number
  readonly headerBytes: number
  readonly #segments: SegmentSpan[]
  // ends of held entries (a deque: #head indexes the first), to check trim boundaries and count entries
  #ends: number[]
  #head = 0
  #start: number
  #end: number
  #durableEnd: number
  #sealLast = false
  readonly #waiters: W[] = []

  constructor(options: SidefileLedgerOptions) {
    this.maxBytes = options.maxBytes
    this.segmentBytes = options.segmentBytes
    this.headerBytes = options.headerBytes
    this.rollBytes = Math.max(4096, Math.floor(options.segmentBytes / 8))
    this.#segments = [...(options.segments ?? [])]
    this.#ends = [...(options.ends ?? [])]
    this.#start = this.#segments[0]?.base ?? 0
    this.#end = this.#segments.at(-1)?.end ?? 0
    this.#durableEnd = this.#end
  }

  get start(): number {
    return this.#start
  }
  get end(): number {
    return this.#end
  }
  get durableEnd(): number {
    return this.#durableEnd
  }
  /** Bytes of entries appended and not yet trimmed, headers included. */
  get held(): number {
    return this.#end - this.#start
  }
  get entries(): number {
    return this.#ends.length - this.#head
  }
  get segments(): readonly SegmentSpan[] {
    return this.#segments
  }
  get waiting(): number {
    return this.#waiters.length
  }

  /** Bytes an entry of `size` payload bytes takes, header included. */
  entryBytes(size: number): number {
    return this.headerBytes + size
  }

  /**
   * Whether an entry of `size` payload bytes may be placed now, must wait
   * for space (room lacking, or writers already waiting: no overtaking), or
   * can never fit.
   */
  admit(size: number): Admission {
    const total = this.entryBytes(size)
    if (total > this.maxBytes) return 'never'
    if (this.#waiters.length === 0 && this.held + total <= this.maxBytes) return 'now'
    return 'wait'
  }

  /** Appends an entry of `size` payload bytes at the end: in the open segment, or in a new one. */
  place(size: number): Placement {
    const total = this.entryBytes(size)
    let segment = this.#segments.at(-1)
    let opened = false
    const used = segment === undefined ? 0 : segment.end - segment.base
    if (segment === undefined || this.#sealLast || (used > 0 && used + total > this.segmentBytes)) {
      segment = { base: this.#end, end: this.#end }
      this.#segments.push(segment)
      this.#sealLast = false
      opened = true
    }
    const position = this.#end
    this.#end += total
    segment.end = this.#end
    this.#ends.push(this.#end)
    return { segment, position, end: this.#end, opened }
  }

  /** Entries up to `end` are durable. */
  markDurable(end: number): void {
    if (end > this.#durableEnd) this.#durableEnd = end
  }

  /**
   * Releases the entries before `upTo` (an entry end at or below the
   * durable end; RangeError otherwise). Returns the segments now wholly
   * released: every one but the last whose end is at or below the start
   * (none when `upTo` releases nothing new).
   * They stay listed until forget() (the caller deletes their files first).
   */
  trim(upTo: number): SegmentSpan[] {
    if (upTo <= this.#start) return []
    if (upTo > this.#durableEnd)
      throw new RangeError(`sidefile trim to ${upTo} beyond the durable end ${this.#durableEnd}`)
    let i = this.#head
    while (i < this.#ends.length && (this.#ends[i] as number) < upTo) i++
    if (this.#ends[i] !== upTo) throw new RangeError(`sidefile trim to ${upTo}: not an entry boundary`)
    this.#head = i + 1
    if (this.#head > 1024 && this.#head * 2 > this.#ends.length) {
      this.#ends = this.#ends.slice(this.#head)
      this.#head = 0
    }
    this.#start = upTo
    const last = this.#segments.at(-1)
    if (last && this.#start === this.#end && last.end - last.base >= this.rollBytes) this.#sealLast = true
    return this.released()
  }

  /** Segments wholly before the start, the last one excepted. */
  released(): SegmentSpan[] {
    const last = this.#segments.at(-1)
    return this.#segments.filter((s) => s !== last && s.end <= this.#start)
  }

  /** Drops a released segment from the list (its file is gone). */
  forget(segment: SegmentSpan): void {
    const i = this.#segments.indexOf(segment)
    if (i >= 0) this.#segments.splice(i, 1)
  }

  /** The segment holding logical position `pos`; a position at a segment's end is the start of the next one. */
  segmentAt(pos: number): SegmentSpan {
    const segments = this.#segments
    let lo = 0
    let hi = segments.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if ((segments[mid] as SegmentSpan).base <= pos) lo = mid
      else hi = mid - 1
    }
    const seg = segments[lo] as SegmentSpan
    return pos >= seg.end && lo + 1 < segments.length ? (segments[lo + 1] as SegmentSpan) : seg
  }

  /** Queues a writer for space (after admit() said 'wait'). */
  enqueueWaiter(waiter: W): void {
    this.#waiters.push(waiter)
  }

  /** Takes a writer out of the queue (it gave up); false when it was no longer there. */
  removeWaiter(waiter: W): boolean {
    const i = this.#waiters.indexOf(waiter)
    if (i < 0) return false
    this.#waiters.splice(i, 1)
    return true
  }

  /**
   * The oldest waiting writer, taken out of the queue, when its entry fits
   * now; undefined otherwise. The caller places its entry before asking
   * again, so each grant sees the space the previous one took.
   */
  grant(): W | undefined {
    const w = this.#waiters[0]
    if (w === undefined || this.held + this.entryBytes(w.size) > this.maxBytes) return undefined
    this.#waiters.shift()
    return w
  }

  /** Takes every waiting writer out of the queue, oldest first. */
  releaseWaiters(): W[] {
    return this.#waiters.splice(0)
  }
}
