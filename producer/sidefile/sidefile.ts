/**
 * The sidefile: a controller's durable outbound queue of time-stamped
 * writes (layout in sidefileFormat.ts). Append-only segment files; an entry
 * is acknowledged to its writer only after fdatasync, and concurrent appends
 * share one fdatasync (group commit). Entries leave when Kafka acknowledged
 * them: trim() moves the start and deletes whole segments behind it.
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
import { mkdir, open, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { XrcError } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import { ENTRY_HEADER_BYTES, entryHeader, parseEntryAt, segmentFileName } from './sidefileFormat.js'
import { syncDir } from '../../lib/stateFile.js'
import { readAt, recoverSegments, segmentAt, writeAll, type Segment } from './sidefileSegments.js'

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
}

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
  /** fdatasync calls of appends so far: fewer than appends when group commit works. */
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
  /** Durable entries from position `from` (a position read() or stats() gave), at least one when any, within the limits. */
  read(from: number, limits: { maxEntries: number; maxBytes: number }): Promise<SidefileEntry[]>
  /** Releases the entries before `upTo` (an entry end at or below the durable end); deletes whole segments behind it. */
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

interface Pending {
  segment: Segment
  position: number
  bufs: Buffer[]
  total: number
  resolve: () => void
  reject: (err: unknown) => void
}

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
  const { dir, maxBytes, waitMs, segmentBytes, logger } = options
  await mkdir(dir, { recursive: true })
  const recovered = await recoverSegments(dir, logger)
  const segments: Segment[] = recovered.segments
  // every segment has its file open from here on: flush() creates new ones, read() and trim() find them open
  for (const s of segments) s.fh = await open(s.path, constants.O_RDWR)
  // ends of held entries (a deque: head index), so trim() can check boundaries and count entries
  const ends: number[] = recovered.ends
  let head = 0
  let start = segments[0]?.base ?? 0
  let end = segments.at(-1)?.end ?? 0
  let durableEnd = end
  let sealLast = false
  const rollBytes = Math.max(4096, Math.floor(segmentBytes / 8))
  const queue: Pending[] = []
  const waiters: Waiter[] = []
  let flushing: Promise<void> = Promise.resolve()
  let flushRunning = false
  let trimming: Promise<void> = Promise.resolve()
  let broken: unknown
  let closed = false
  const counters = { waits: 0, waitedMs: 0, fullTotal: 0, syncs: 0 }

  const held = (): number => end - start
  const fail = (err: unknown): void => {
    if (broken === undefined) {
      broken = err
      logger.error({ err, dir }, 'sidefile I/O failed: the controller can take no more writes')
    }
  }
  const check = (): void => {
    if (closed) throw new XrcError('XRC_CLOSED', `sidefile ${dir} is closed`)
    if (broken !== undefined)
      throw new XrcError('XRC_SIDEFILE_CORRUPT', `sidefile ${dir} failed earlier and takes no more writes`, {
        cause: broken,
        retriable: false,
      })
  }

  function enqueue(size: number, build: (durable: Promise<void>) => Buffer): Promise<void> {
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
    const total = ENTRY_HEADER_BYTES + size
    let last = segments.at(-1)
    if (last === undefined || sealLast || (last.end > last.base && last.end - last.base + total > segmentBytes)) {
      last = { base: end, end, path: join(dir, segmentFileName(end)) }
      segments.push(last)
      sealLast = false
    }
    queue.push({ segment: last, position: end, bufs: [entryHeader(payload), payload], total, resolve, reject })
    end += total
    last.end = end
    ends.push(end)
    if (!flushRunning) {
      flushRunning = true
      flushing = flush()
    }
    return durable
  }

  // Group commit: everything queued while the previous fdatasync ran is
  // written with one writev and made durable with one fdatasync. A batch
  // stops at a segment boundary, so a new segment is written only after the
  // previous one is whole on disk.
  async function flush(): Promise<void> {
    for (;;) {
      if (queue.length === 0) {
        // cleared in the same synchronous run that saw the queue empty, so an append never waits on a flush that is ending
        flushRunning = false
        return
      }
      const first = queue[0] as Pending
      let n = 1
      while (n < queue.length && queue[n]?.segment === first.segment) n++
      const batch = queue.splice(0, n)
      const seg = first.segment
      try {
        if (broken !== undefined) throw broken
        let created = false
        if (seg.fh === undefined) {
          seg.fh = await open(seg.path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL, 0o644)
          created = true
        }
        await writeAll(
          seg.fh,
          batch.flatMap((p) => p.bufs),
          first.position - seg.base,
        )
        await seg.fh.datasync()
        counters.syncs++
        if (created) await syncDir(dir)
        const last = batch.at(-1) as Pending
        durableEnd = last.position + last.total
        for (const p of batch) p.resolve()
      } catch (err) {
        fail(err)
        for (const p of batch) p.reject(err)
        continue
      }
      try {
        options.onDurable?.(durableEnd)
      } catch (err) {
        logger.error({ err, dir }, 'sidefile onDurable listener threw')
      }
    }
  }

  function full(size: number, waitedMs: number): XrcError {
    counters.fullTotal++
    const event: SidefileFullEvent = {
      dir,
      bytes: held(),
      maxBytes,
      entryBytes: ENTRY_HEADER_BYTES + size,
      waitedMs,
      waitingWriters: waiters.length,
    }
    options.onFull?.(event)
    return new XrcError(
      'XRC_SIDEFILE_FULL',
      `sidefile ${dir} is full: ${event.bytes} of ${maxBytes} bytes held, no room for ${event.entryBytes} more after waiting ${waitedMs} ms`,
      {
        context: { dir, bytes: event.bytes, maxBytes, waitedMs },
      },
    )
  }

  // Hands freed space to waiting writers, oldest first (no overtaking).
  function grant(): void {
    while (waiters.length > 0) {
      const w = waiters[0] as Waiter
      if (held() + ENTRY_HEADER_BYTES + w.size > maxBytes) return
      waiters.shift()
      clearTimeout(w.timer)
      const waited = Date.now() - w.since
      counters.waitedMs += waited
      options.onWaited?.(waited, 'granted')
      enqueue(w.size, w.build).then(w.resolve, w.reject)
    }
  }

  return {
    dir,
    append(size, build) {
      try {
        check()
      } catch (err) {
        return Promise.reject(err)
      }
      const total = ENTRY_HEADER_BYTES + size
      if (total > maxBytes) return Promise.reject(full(size, 0))
      if (waiters.length === 0 && held() + total <= maxBytes) return enqueue(size, build)
      if (waitMs === 0) return Promise.reject(full(size, 0))
      counters.waits++
      return new Promise<void>((resolve, reject) => {
        const w: Waiter = { size, build, since: Date.now(), resolve, reject }
        w.timer = setTimeout(() => {
          const i = waiters.indexOf(w)
          if (i < 0) return
          waiters.splice(i, 1)
          const waited = Date.now() - w.since
          counters.waitedMs += waited
          options.onWaited?.(waited, 'full')
          w.reject(full(size, waited))
          grant() // a smaller writer behind may fit now
        }, waitMs)
        waiters.push(w)
      })
    },

    async read(from, limits) {
      check()
      if (from < start || from > durableEnd)
        throw new RangeError(`sidefile read from ${from} outside the held durable range [${start}, ${durableEnd}]`)
      const out: SidefileEntry[] = []
      let pos = from
      let bytes = 0
      while (pos < durableEnd && out.length < limits.maxEntries) {
        const seg = segmentAt(segments, pos)
        const segEnd = Math.min(seg.end, durableEnd)
        if (pos >= segEnd) break
        const want = Math.min(segEnd - pos, Math.max(limits.maxBytes - bytes, ENTRY_HEADER_BYTES))
        let buf = await readAt(seg, pos - seg.base, want)
        let offset = 0
        while (offset < buf.length && out.length < limits.maxEntries) {
          let parsed = parseEntryAt(buf, offset)
          if (parsed.kind === 'incomplete') {
            if (offset > 0) break // read the rest in the next round
            buf = await readAt(seg, pos - seg.base, parsed.need) // one entry larger than the window
            parsed = parseEntryAt(buf, 0)
          }
          if (parsed.kind !== 'entry') {
            const reason = parsed.kind === 'bad' ? parsed.reason : 'cut off'
            throw new XrcError(
              'XRC_SIDEFILE_CORRUPT',
              `sidefile entry at ${seg.path} offset ${pos - seg.base} is damaged: ${reason}`,
              { context: { file: seg.path, offset: String(pos - seg.base) } },
            )
          }
          if (out.length > 0 && bytes + parsed.total > limits.maxBytes) return out
          out.push({ position: pos, end: pos + parsed.total, payload: parsed.payload }) // a view of this read's own buffer
          bytes += parsed.total
          pos += parsed.total
          offset += parsed.total
        }
        if (bytes >= limits.maxBytes) break
      }
      return out
    },

    trim(upTo) {
      const run = async (): Promise<void> => {
        check()
        if (upTo <= start) return
        if (upTo > durableEnd) throw new RangeError(`sidefile trim to ${upTo} beyond the durable end ${durableEnd}`)
        let i = head
        while (i < ends.length && (ends[i] as number) < upTo) i++
        if (ends[i] !== upTo) throw new RangeError(`sidefile trim to ${upTo}: not an entry boundary`)
        head = i + 1
        if (head > 1024 && head * 2 > ends.length) {
          ends.splice(0, head)
          head = 0
        }
        start = upTo
        grant()
        const last = segments.at(-1)
        if (last && start === end && last.end - last.base >= rollBytes) sealLast = true
        const dead = segments.filter((s) => s !== last && s.end <= start)
        if (dead.length === 0) return
        await options.beforeDelete?.()
        for (const s of dead) {
          await s.fh?.close()
          s.fh = undefined
          await unlink(s.path)
          segments.splice(segments.indexOf(s), 1)
        }
        await syncDir(dir)
      }
      trimming = trimming.then(run, run)
      return trimming
    },

    stats() {
      return {
        bytes: held(),
        entries: ends.length - head,
        maxBytes,
        segments: segments.length,
        start,
        durableEnd,
        end,
        waitingWriters: waiters.length,
        waits: counters.waits,
        waitedMs: counters.waitedMs,
        fullTotal: counters.fullTotal,
        syncs: counters.syncs,
      }
    },

    releaseWaiters() {
      const released = waiters.splice(0)
      for (const w of released) {
        clearTimeout(w.timer)
        const waited = Date.now() - w.since
        counters.waitedMs += waited
        options.onWaited?.(waited, 'full')
        w.reject(
          new XrcError(
            'XRC_SIDEFILE_FULL',
            `sidefile ${dir}: the session suspended while the writer waited ${waited} ms for space`,
            { context: { dir, waitedMs: waited } },
          ),
        )
      }
      return released.length
    },

    async close() {
      if (closed) return
      closed = true
      for (const w of waiters.splice(0)) {
        clearTimeout(w.timer)
        options.onWaited?.(Date.now() - w.since, 'closed')
        w.reject(new XrcError('XRC_CLOSED', `sidefile ${dir} closed while the writer waited for space`))
      }
      await flushing
      await trimming.catch(() => undefined) // its error went to the trim() caller
      for (const s of segments) {
        await s.fh?.close()
        s.fh = undefined
      }
    },
  }
}
