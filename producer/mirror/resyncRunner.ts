/**
 * The static resync of one controller: reads the blocks its pending bitmaps
 * name, a group (a run of up to resync.groupBlocks marked blocks of one
 * volume) at a time, and appends each group's fresh copies to the sidefile
 * as RESYNC entries, from where the sender sends them like any write.
 *
 * One group:
 *   1. in one synchronous step: a read time R (a tick), the group recorded
 *      in the progress queue, and the read queued behind every volume write
 *      stamped so far (Controller.readAfterWrites): it holds every write
 *      stamped before R;
 *   2. the read returns: the queue gives the blocks no newer host write
 *      touched meanwhile (resyncOrdering.ts); those are appended in one
 *      synchronous step that takes their seqs and one tick;
 *   3. once durable in the sidefile, their marks are cleared.
 * A group that a suspension overtook (the capture epoch moved) is dropped at
 * 2 and its marks are kept at 3: writes marked meanwhile may postdate its read.
 *
 * Pacing: up to resync.maxGroupsInFlight groups, at most
 * resync.maxBytesPerSecond, and a group starts only while the sidefile is at
 * most half full, so host writes always find room.
 */
import { errorMessage } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import { sleep } from '../../lib/retry.js'
import type { ChangeTracker } from '../changes/index.js'
import type { Controller, ResyncEntry } from '../controller/index.js'
import type { BlockRun, ProgressQueue } from './resyncOrdering.js'
import type { SessionClock } from '../sessionClock.js'

/**
 * Bytes a resync entry takes in the sidefile besides its blocks (framing, entry header, a volume name): an upper
 * bound.
 */
const ENTRY_OVERHEAD_BYTES = 12 + 22 + 255

export interface ResyncPacing {
  groupBlocks: number
  maxGroupsInFlight: number
  /** 0 = unbounded. */
  maxBytesPerSecond: number
}

export interface ResyncRunnerOptions {
  controller: Pick<Controller, 'id' | 'volumes' | 'readAfterWrites' | 'appendResync' | 'status'>
  tracker: ChangeTracker
  queue: ProgressQueue
  clock: SessionClock
  blockSize: number
  pacing: ResyncPacing
  logger: Logger
  /** The capture epoch now: it moves whenever the session suspends. */
  captureEpoch(): number
  /** Whether this resync should go on (the session is resyncing this epoch, the primary runs). */
  active(): boolean
  /** No write of the suspension is still making its mark: the marks are final. */
  settled(): boolean
  /** Blocks appended (durable) as RESYNC entries. */
  onGroupDurable(blocks: number): void
}

/** Runs until every mark is cleared ('done') or `active()` turns false ('stopped'). */
export function runResync(options: ResyncRunnerOptions): Promise<'done' | 'stopped'> {
  return new ResyncRun(options).run()
}

/** The blocks of groups begun and not yet cleared or dropped, and the cursor over the marks. */
class MarkCursor {
  // after the queue lets a group go, its marks stay until its records are durable, and a group must not read
  // them again meanwhile
  readonly #reserved: Map<string, Set<number>>
  readonly #volumes: string[]
  readonly #tracker: ChangeTracker
  #cursor = { volume: 0, block: 0 }

  constructor(volumes: readonly string[], tracker: ChangeTracker) {
    this.#volumes = [...volumes]
    this.#tracker = tracker
    this.#reserved = new Map<string, Set<number>>(volumes.map((v) => [v, new Set<number>()]))
  }

  #isReserved(volume: string, block: number): boolean {
    return this.#reserved.get(volume)?.has(block) === true
  }

  /** The next run of at most `maxBlocks` marked blocks not in flight, from the cursor on (wrapping once). */
  nextRun(maxBlocks: number): BlockRun | undefined {
    const volumes = this.#volumes
    for (let i = 0; i <= volumes.length; i++) {
      const vi = (this.#cursor.volume + i) % volumes.length
      const volume = volumes[vi] as string
      const bm = this.#tracker.pending.get(volume)
      if (bm === undefined) continue
      let b = bm.nextMarked(i === 0 ? this.#cursor.block : 0)
      while (b !== undefined && this.#isReserved(volume, b)) b = bm.nextMarked(b + 1)
      if (b === undefined) continue
      let count = 1
      while (count < maxBlocks && bm.has(b + count) && !this.#isReserved(volume, b + count)) count++
      this.#cursor = { volume: vi, block: b + count }
      return { volume, start: b, count }
    }
    return undefined
  }

  /** Reserves the run's blocks while `work` runs. */
  async reserving(run: BlockRun, work: () => Promise<void>): Promise<void> {
    const mine = this.#reserved.get(run.volume) as Set<number>
    for (let b = run.start; b < run.start + run.count; b++) mine.add(b)
    try {
      await work()
    } finally {
      for (let b = run.start; b < run.start + run.count; b++) mine.delete(b)
    }
  }
}

/** A token bucket of resync.maxBytesPerSecond (0: unbounded). */
class Pacer {
  readonly #maxBytesPerSecond: number
  #allowance: number
  #refilledAt = Date.now()

  constructor(maxBytesPerSecond: number) {
    this.#maxBytesPerSecond = maxBytesPerSecond
    this.#allowance = maxBytesPerSecond
  }

  async take(bytes: number): Promise<void> {
    const rate = this.#maxBytesPerSecond
    if (rate <= 0) return
    for (;;) {
      const now = Date.now()
      this.#allowance = Math.min(rate, this.#allowance + ((now - this.#refilledAt) * rate) / 1000)
      this.#refilledAt = now
      if (this.#allowance >= bytes || this.#allowance >= rate) break
      await sleep(Math.ceil(((bytes - this.#allowance) * 1000) / rate))
    }
    this.#allowance -= bytes
  }
}

/** One controller's resync: its loop over the marks and the groups it has in flight. */
class ResyncRun {
  readonly #o: ResyncRunnerOptions
  readonly #log: Logger
  readonly #inFlight = new Set<Promise<void>>()
  readonly #marks: MarkCursor
  readonly #pacer: Pacer

  constructor(options: ResyncRunnerOptions) {
    this.#o = options
    this.#log = options.logger.child({ component: 'resync', controller: options.controller.id })
    this.#marks = new MarkCursor(options.controller.volumes, options.tracker)
    this.#pacer = new Pacer(options.pacing.maxBytesPerSecond)
  }

  async run(): Promise<'done' | 'stopped'> {
    const { tracker, pacing, blockSize } = this.#o
    const inFlight = this.#inFlight
    try {
      while (this.#o.active()) {
        const room = this.#blocksWithRoom()
        if (inFlight.size >= pacing.maxGroupsInFlight || (inFlight.size > 0 && room === 0)) {
          await Promise.race(inFlight)
          continue
        }
        if (room === 0) {
          await sleep(20)
          continue
        }
        const run = this.#marks.nextRun(room)
        if (run === undefined) {
          if (inFlight.size > 0) {
            await Promise.race(inFlight)
            continue
          }
          if (tracker.pendingCount() === 0 && this.#o.settled()) return 'done'
          await sleep(20) // marks remain but all are behind a group that was just dropped: look again
          continue
        }
        await this.#pacer.take(run.count * blockSize)
        if (!this.#o.active()) break
        this.#launch(run)
      }
      return 'stopped'
    } finally {
      await Promise.allSettled(inFlight)
    }
  }

  #launch(run: BlockRun): void {
    const epoch = this.#o.captureEpoch()
    const task: Promise<void> = this.#marks
      .reserving(run, () => this.#group(run, epoch))
      .catch((err: unknown) => this.#log.error({ err }, 'resync group failed; its blocks stay marked'))
    const tracked = task.finally(() => this.#inFlight.delete(tracked))
    this.#inFlight.add(tracked)
  }

  /** Blocks a group may read now: what fits in the free half of the sidefile (one block into an empty one). */
  #blocksWithRoom(): number {
    const { controller, blockSize, pacing } = this.#o
    const sf = controller.status().sidefile
    const fit = Math.floor((sf.maxBytes / 2 - sf.bytes) / (blockSize + ENTRY_OVERHEAD_BYTES))
    return Math.min(pacing.groupBlocks, fit > 0 ? fit : sf.bytes === 0 ? 1 : 0)
  }

  async #group(run: BlockRun, epoch: number): Promise<void> {
    const { controller, queue, clock } = this.#o
    // 1. one synchronous step: read time, progress queue, read queued behind every write stamped so far
    const group = queue.begin(run, clock.tick())
    let data: Buffer
    try {
      data = await controller.readAfterWrites(run.volume, run.start, run.count)
    } catch (err) {
      queue.abandon(group.id)
      this.#log.warn(
        { err: errorMessage(err), volume: run.volume, block: run.start },
        'resync read failed; its blocks stay marked',
      )
      await sleep(200)
      return
    }
    // 2. a suspension since the read was issued voids the group: its blocks may have been marked again after the read
    if (this.#o.captureEpoch() !== epoch || !this.#o.active()) {
      queue.abandon(group.id)
      return
    }
    await this.#append(run, queue.finish(group.id), data, epoch)
  }

  /** Appends the copies no newer host write carries; once durable, clears their marks. */
  async #append(run: BlockRun, kept: BlockRun[], data: Buffer, epoch: number): Promise<void> {
    const { controller, tracker, blockSize } = this.#o
    const entries: ResyncEntry[] = kept.map((r) => ({
      volume: r.volume,
      block: r.start,
      data: data.subarray((r.start - run.start) * blockSize, (r.start - run.start + r.count) * blockSize),
    }))
    if (entries.length === 0) return // every copy went stale: the newer host writes carry these blocks
    const durable = controller.appendResync(entries, () => {
      for (const r of kept) tracker.noteSent(r.volume, r.start, r.count)
    })
    if (durable === undefined) {
      await sleep(20) // no room in the sidefile now: the blocks stay marked, a later group takes them
      return
    }
    await durable
    // 3. durable in the sidefile: the marks may go, unless a suspension came in between
    if (this.#o.captureEpoch() !== epoch) return
    let blocks = 0
    for (const r of kept) {
      tracker.clearPending(r.volume, r.start, r.count)
      blocks += r.count
    }
    tracker.persistClears()
    this.#o.onGroupDurable(blocks)
  }
}
