/**
 * The sidefile: a controller's durable outbound queue of time-stamped
 * writes (layout in sidefileFormat.ts). Append-only segment files, opened
 * with O_DSYNC: a write returns only once its data is durable, as a write
 * followed by fdatasync would, but in one trip through libuv's thread pool
 * instead of two. An entry is acknowledged to its writer only after that
 * write, and concurrent appends share one (group commit). Entries leave
 * when Kafka acknowledged them: trim() moves the start and deletes whole
 * segments behind it.
 *
 * Which segment an entry goes to, what is held and durable, the byte bound
 * and the queue of waiting writers are the pure SidefileLedger
 * (sidefileLedger.ts); SegmentedSidefile here does the I/O around it:
 * `append` (admit, then `enqueue` or `waitForSpace`), `flush` and
 * `writeBatch` (group commit), `read`, `trim` (`deleteSegments`).
 *
 * Invariants:
 * - Entries are durable in append order; append() resolves in that order.
 * - A batch never spans two segments, so only the last segment can have a
 *   torn tail; recovery truncates it and refuses (XRC_SIDEFILE_CORRUPT,
 *   naming file and offset) any damage that a valid entry follows.
 * - The last segment is never deleted, so the latest entry (and with it the
 *   controller's last seq) survives trimming; a fully acknowledged last
 *   segment past a small size is sealed, so the next append starts a new one
 *   and the old one can go.
 * - Space is bounded: the bytes of entries not yet trimmed (headers
 *   included) never exceed `maxBytes`. A writer waits in FIFO order up to
 *   `waitMs` for space, then gets XRC_SIDEFILE_FULL and `onFull` fires (the
 *   hook the suspend issue uses).
 *
 * One consumer (the sender) calls read() and trim(); any number of writers
 * call append().
 */
import { constants } from 'node:fs'
import { mkdir, open, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { XrcError } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import { DATA_DIR_MODE, DATA_FILE_MODE, syncDir } from '../../lib/stateFile.js'
import { ENTRY_HEADER_BYTES, entryHeader, parseEntryAt, segmentFileName } from './sidefileFormat.js'
import { SidefileLedger, type SegmentSpan } from './sidefileLedger.js'
import { readAt, recoverSegments, writeAll } from './sidefileSegments.js'
import { TailCache } from './tailCache.js'

/** Segment files: every write durable when it returns (O_DSYNC, see the file comment). */
const SEGMENT_FLAGS = constants.O_RDWR | constants.O_DSYNC

export interface SidefileFullEvent {
  dir: string
  /** Bytes held (not yet trimmed) and the bound. */
  bytes: number
  maxBytes: number
  /** Size of the entry that did not fit, and how long its writer waited. */
  entryBytes: number
  waitedMs: number
  waitingWriters: number
}

export interface SidefileOptions {
  dir: string
  /** Bound on bytes held (entries not yet trimmed, headers included). */
  maxBytes: number
  /** Longest a writer waits for space before XRC_SIDEFILE_FULL. */
  waitMs: number
  /** Target segment size; an entry larger than it gets a segment of its own. */
  segmentBytes: number
  logger: Logger
  /** A writer gave up waiting for space (or could not wait). Called before its append rejects. */
  onFull?: (event: SidefileFullEvent) => void
  /** How long a writer waited for space, and whether it got it. */
  onWaited?: (ms: number, outcome: 'granted' | 'full' | 'closed') => void
  /** New entries are durable up to logical position `end`. */
  onDurable?: (end: number) => void
  /** Called before segments are deleted: make what their entries did durable elsewhere (sync the volumes). */
  beforeDelete?: () => Promise<void>
  /** Bytes of the newest durable entries kept in memory for read() (tailCache.ts); default 1 MiB, 0: none. */
  tailCacheBytes?: number
}

/** Default of SidefileOptions.tailCacheBytes. */
export const DEFAULT_TAIL_CACHE_BYTES = 1024 * 1024

export interface SidefileEntry {
  /** Logical position of the entry, and just past it (the position to trim to). */
  position: number
  end: number
  payload: Buffer
}

export interface SidefileStats {
  /** Bytes and entries held (appended, not yet trimmed), including those not yet durable. */
  bytes: number
  entries: number
  maxBytes: number
  segments: number
  /** Logical positions: first held entry, end of durable entries, end of all appended entries. */
  start: number
  durableEnd: number
  end: number
  waitingWriters: number
  /** Writers that had to wait, their total wait, and how many got XRC_SIDEFILE_FULL. */
  waits: number
  waitedMs: number
  fullTotal: number
  /** Durable writes of appends so far (each as an fdatasync): fewer than appends when group commit works. */
  syncs: number
}

export interface Sidefile {
  readonly dir: string
  /**
   * Appends an entry of `size` payload bytes. When space is available (at
   * once, or after waiting), `build` is called synchronously with the
   * promise of the entry's durability and returns the payload: the caller
   * assigns its seq and time inside `build`, so append order = seq order.
   * Resolves when the entry is durable; rejects with XRC_SIDEFILE_FULL
   * (build never called), XRC_CLOSED, or the I/O error that broke the sidefile.
   */
  append(size: number, build: (durable: Promise<void>) => Buffer): Promise<void>
  /**
   * Durable entries from position `from` (a position read() or stats() gave), at least one when any, within the limits.
   */
  read(from: number, limits: { maxEntries: number; maxBytes: number }): Promise<SidefileEntry[]>
  /**
   * Releases the entries before `upTo` (an entry end at or below the durable end); deletes whole segments behind it.
   */
  trim(upTo: number): Promise<void>
  stats(): SidefileStats
  /**
   * Rejects every writer waiting for space at once with XRC_SIDEFILE_FULL
   * (the session suspended: their writes go on marked, and none of them may
   * take a seq later). Their build was never called. Returns how many.
   */
  releaseWaiters(): number
  /** Waits for pending appends, fails waiting writers with XRC_CLOSED, closes the files. */
  close(): Promise<void>
}

/** An entry placed and waiting for its durable write. */
interface Pending {
  segment: SegmentSpan
  position: number
  bufs: Buffer[]
  total: number
  resolve: () => void
  reject: (err: unknown) => void
}

/** A writer waiting for space. */
interface Waiter {
  size: number
  build: (durable: Promise<void>) => Buffer
  since: number
  timer?: NodeJS.Timeout
  resolve: () => void
  reject: (err: unknown) => void
}

/** Opens a sidefile, recovering it (torn tail truncated, stale segments removed). */
export async function openSidefile(options: SidefileOptions): Promise<Sidefile> {
  await mkdir(options.dir, { recursive: true, mode: DATA_DIR_MODE })
  const recovered = await recoverSegments(options.dir, options.logger)
  // every segment has its file open from here on: flush() creates new ones, read() and trim() find them open
  const files = new Map<SegmentSpan, FileHandle>()
  for (const s of recovered.segments) files.set(s, await open(s.path, SEGMENT_FLAGS))
  const ledger = new SidefileLedger<Waiter>({
    maxBytes: options.maxBytes,
    segmentBytes: options.segmentBytes,
    headerBytes: ENTRY_HEADER_BYTES,
    segments: recovered.segments,
    ends: recovered.ends,
  })
  return new SegmentedSidefile(options, ledger, files)
}

/** The sidefile's I/O around its ledger: segment files, group commit, waiters' timers. */
class SegmentedSidefile implements Sidefile {
  readonly dir: string
  readonly #options: SidefileOptions
  readonly #log: Logger
  readonly #ledger: SidefileLedger<Waiter>
  readonly #files: Map<SegmentSpan, FileHandle>
  readonly #queue: Pending[] = []
  #flushing: Promise<void> = Promise.resolve()
  #flushRunning = false
  #trimming: Promise<void> = Promise.resolve()
  #broken: unknown
  #closed = false
  readonly #counters = { waits: 0, waitedMs: 0, fullTotal: 0, syncs: 0 }
  readonly #tail: TailCache

  constructor(options: SidefileOptions, ledger: SidefileLedger<Waiter>, files: Map<SegmentSpan, FileHandle>) {
    this.dir = options.dir
    this.#options = options
    this.#tail = new TailCache(options.tailCacheBytes ?? DEFAULT_TAIL_CACHE_BYTES)
    this.#log = options.logger
    this.#ledger = ledger
    this.#files = files
  }

  append(size: number, build: (durable: Promise<void>) => Buffer): Promise<void> {
    try {
      this.#check()
    } catch (err) {
      return Promise.reject(err)
    }
    const admission = this.#ledger.admit(size)
    if (admission === 'now') return this.#enqueue(size, build)
    if (admission === 'never' || this.#options.waitMs === 0) return Promise.reject(this.#full(size, 0))
    return this.#waitForSpace(size, build)
  }

  async read(from: number, limits: { maxEntries: number; maxBytes: number }): Promise<SidefileEntry[]> {
    this.#check()
    const ledger = this.#ledger
    const durableEnd = ledger.durableEnd
    if (from < ledger.start || from > durableEnd)
      throw new RangeError(`sidefile read from ${from} outside the held durable range [${ledger.start}, ${durableEnd}]`)
    // what was just written is still in memory: the common case of the sender following the writers
    const cached = this.#tail.read(from, limits)
    if (cached !== undefined) return cached
    const out: SidefileEntry[] = []
    let pos = from
    let bytes = 0
    while (pos < durableEnd && out.length < limits.maxEntries) {
      const seg = ledger.segmentAt(pos)
      const segEnd = Math.min(seg.end, durableEnd)
      if (pos >= segEnd) break
      const want = Math.min(segEnd - pos, Math.max(limits.maxBytes - bytes, ENTRY_HEADER_BYTES))
      let buf = await this.#readAt(seg, pos - seg.base, want)
      let offset = 0
      while (offset < buf.length && out.length < limits.maxEntries) {
        let parsed = parseEntryAt(buf, offset)
        if (parsed.kind === 'incomplete') {
          if (offset > 0) break // read the rest in the next round
          buf = await this.#readAt(seg, pos - seg.base, parsed.need) // one entry larger than the window
          parsed = parseEntryAt(buf, 0)
        }
        if (parsed.kind !== 'entry') throw this.#damaged(seg, pos, parsed.kind === 'bad' ? parsed.reason : 'cut off')
        if (out.length > 0 && bytes + parsed.total > limits.maxBytes) return out
        // the payload is a view of this read's own buffer
        out.push({ position: pos, end: pos + parsed.total, payload: parsed.payload })
        bytes += parsed.total
        pos += parsed.total
        offset += parsed.total
      }
      if (bytes >= limits.maxBytes) break
    }
    return out
  }

  trim(upTo: number): Promise<void> {
    const run = async (): Promise<void> => {
      this.#check()
      const released = this.#ledger.trim(upTo)
      this.#tail.trim(upTo)
      this.#grant()
      if (released.length > 0) await this.#deleteSegments(released)
    }
    this.#trimming = this.#trimming.then(run, run)
    return this.#trimming
  }

  stats(): SidefileStats {
    const ledger = this.#ledger
    return {
      bytes: ledger.held,
      entries: ledger.entries,
      maxBytes: ledger.maxBytes,
      segments: ledger.segments.length,
      start: ledger.start,
      durableEnd: ledger.durableEnd,
      end: ledger.end,
      waitingWriters: ledger.waiting,
      ...this.#counters,
    }
  }

  releaseWaiters(): number {
    const released = this.#ledger.releaseWaiters()
    for (const w of released) {
      const waited = this.#stopWaiting(w, 'full')
      w.reject(new XrcError('XRC_SIDEFILE_FULL', { reason: 'suspended', dir: this.dir, waitedMs: waited }))
    }
    return released.length
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const w of this.#ledger.releaseWaiters()) {
      clearTimeout(w.timer)
      this.#options.onWaited?.(Date.now() - w.since, 'closed')
      w.reject(new XrcError('XRC_CLOSED', { reason: 'sidefileWaiting', dir: this.dir }))
    }
    await this.#flushing
    await this.#trimming.catch(() => undefined) // its error went to the trim() caller
    for (const [seg, fh] of this.#files) {
      this.#files.delete(seg)
      await fh.close()
    }
  }

  #check(): void {
    if (this.#closed) throw new XrcError('XRC_CLOSED', { reason: 'sidefile', dir: this.dir })
    if (this.#broken !== undefined)
      throw new XrcError('XRC_SIDEFILE_CORRUPT', { reason: 'failedEarlier', dir: this.dir }, { cause: this.#broken })
  }

  #fail(err: unknown): void {
    if (this.#broken === undefined) {
      this.#broken = err
      this.#log.error({ err, dir: this.dir }, 'sidefile I/O failed: the controller can take no more writes')
    }
  }

  /** Builds the entry (build gets its durability promise), places it, and starts a flush when none runs. */
  #enqueue(size: number, build: (durable: Promise<void>) => Buffer): Promise<void> {
    let resolve!: () => void
    let reject!: (err: unknown) => void
    const durable = new Promise<void>((res, rej) => {
      resolve = res
      reject = rej
    })
    let payload: Buffer
    try {
      payload = build(durable)
      if (payload.length !== size)
        throw new RangeError(`sidefile entry announced ${size} bytes, built ${payload.length}`)
    } catch (err) {
      reject(err)
      return durable
    }
    const { segment, position } = this.#ledger.place(size)
    const total = ENTRY_HEADER_BYTES + size
    this.#queue.push({ segment, position, bufs: [entryHeader(payload), payload], total, resolve, reject })
    if (!this.#flushRunning) {
      this.#flushRunning = true
      this.#flushing = this.#flush()
    }
    return durable
  }

  // Group commit: everything queued while the previous write ran is
  // written with one writev, durable when it returns (O_DSYNC). A batch
  // stops at a segment boundary, so a new segment is written only after the
  // previous one is whole on disk.
  async #flush(): Promise<void> {
    for (;;) {
      if (this.#queue.length === 0) {
        // cleared in the same synchronous run that saw the queue
        // empty, so an append never waits on a flush that is ending
        this.#flushRunning = false
        return
      }
      const first = this.#queue[0] as Pending
      let n = 1
      while (n < this.#queue.length && this.#queue[n]?.segment === first.segment) n++
      const batch = this.#queue.splice(0, n)
      try {
        if (this.#broken !== undefined) throw this.#broken
        await this.#writeBatch(batch)
      } catch (err) {
        this.#fail(err)
        for (const p of batch) p.reject(err)
        continue
      }
      for (const p of batch) p.resolve()
      try {
        this.#options.onDurable?.(this.#ledger.durableEnd)
      } catch (err) {
        this.#log.error({ err, dir: this.dir }, 'sidefile onDurable listener threw')
      }
    }
  }

  /** Writes one batch (entries of one segment, in order) and makes it durable; creates the segment's file when new. */
  async #writeBatch(batch: Pending[]): Promise<void> {
    const first = batch[0] as Pending
    const seg = first.segment
    let fh = this.#files.get(seg)
    const created = fh === undefined
    if (fh === undefined) {
      fh = await open(this.#path(seg), SEGMENT_FLAGS | constants.O_CREAT | constants.O_EXCL, DATA_FILE_MODE)
      this.#files.set(seg, fh)
    }
    // O_DSYNC: the write returns once durable, as a write then fdatasync would, in one trip through the thread pool
    await writeAll(
      fh,
      batch.flatMap((p) => p.bufs),
      first.position - seg.base,
    )
    this.#counters.syncs++
    if (created) await syncDir(this.dir)
    const last = batch.at(-1) as Pending
    this.#ledger.markDurable(last.position + last.total)
    for (const p of batch)
      this.#tail.add({ position: p.position, end: p.position + p.total, payload: p.bufs[1] as Buffer })
  }

  /** Queues a writer for space; it gets XRC_SIDEFILE_FULL when none is granted within waitMs. */
  #waitForSpace(size: number, build: (durable: Promise<void>) => Buffer): Promise<void> {
    this.#counters.waits++
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { size, build, since: Date.now(), resolve, reject }
      w.timer = setTimeout(() => {
        if (!this.#ledger.removeWaiter(w)) return
        w.reject(this.#full(size, this.#stopWaiting(w, 'full')))
        this.#grant() // a smaller writer behind may fit now
      }, this.#options.waitMs)
      this.#ledger.enqueueWaiter(w)
    })
  }

  /** Hands freed space to waiting writers, oldest first (no overtaking). */
  #grant(): void {
    for (let w = this.#ledger.grant(); w !== undefined; w = this.#ledger.grant()) {
      this.#stopWaiting(w, 'granted')
      this.#enqueue(w.size, w.build).then(w.resolve, w.reject)
    }
  }

  /** Ends a writer's wait: its timer, the counters and the onWaited hook. Returns how long it waited. */
  #stopWaiting(w: Waiter, outcome: 'granted' | 'full'): number {
    clearTimeout(w.timer)
    const waited = Date.now() - w.since
    this.#counters.waitedMs += waited
    this.#options.onWaited?.(waited, outcome)
    return waited
  }

  #full(size: number, waitedMs: number): XrcError {
    this.#counters.fullTotal++
    const { dir } = this
    const maxBytes = this.#ledger.maxBytes
    const event: SidefileFullEvent = {
      dir,
      bytes: this.#ledger.held,
      maxBytes,
      entryBytes: ENTRY_HEADER_BYTES + size,
      waitedMs,
      waitingWriters: this.#ledger.waiting,
    }
    this.#options.onFull?.(event)
    return new XrcError('XRC_SIDEFILE_FULL', {
      dir,
      bytes: event.bytes,
      maxBytes,
      entryBytes: event.entryBytes,
      waitedMs,
    })
  }

  /** Deletes released segments, after beforeDelete made what their entries did durable elsewhere. */
  async #deleteSegments(released: readonly SegmentSpan[]): Promise<void> {
    await this.#options.beforeDelete?.()
    for (const seg of released) {
      await this.#files.get(seg)?.close()
      this.#files.delete(seg)
      await unlink(this.#path(seg))
      this.#ledger.forget(seg)
    }
    await syncDir(this.dir)
  }

  #readAt(seg: SegmentSpan, offset: number, length: number): Promise<Buffer> {
    const fh = this.#files.get(seg)
    if (fh === undefined) throw new Error(`sidefile segment ${this.#path(seg)} is not open`)
    return readAt(fh, offset, length)
  }

  #damaged(seg: SegmentSpan, pos: number, reason: string): XrcError {
    const file = this.#path(seg)
    return new XrcError('XRC_SIDEFILE_CORRUPT', { file, offset: String(pos - seg.base), problem: reason })
  }

  #path(seg: SegmentSpan): string {
    return join(this.dir, segmentFileName(seg.base))
  }
}
