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
export async function runResync(options: ResyncRunnerOptions): Promise<'done' | 'stopped'> {
  const { controller, tracker, queue, clock, blockSize, pacing } = options
  const log = options.logger.child({ component: 'resync', controller: controller.id })
  const inFlight = new Set<Promise<void>>()
  // blocks of groups begun and not yet cleared or dropped: after the queue lets a group go, its marks stay
  // until its records are durable, and a group must not read them again meanwhile
  const reserved = new Map<string, Set<number>>(controller.volumes.map((v) => [v, new Set<number>()]))
  const isReserved = (volume: string, block: number): boolean => reserved.get(volume)?.has(block) === true
  const volumes = [...controller.volumes]
  let cursor = { volume: 0, block: 0 }
  let allowance = pacing.maxBytesPerSecond
  let refilledAt = Date.now()

  /** The next run of at most `maxBlocks` marked blocks not in flight, from the cursor on (wrapping once). */
  function nextRun(maxBlocks: number): BlockRun | undefined {
    for (let i = 0; i <= volumes.length; i++) {
      const vi = (cursor.volume + i) % volumes.length
      const volume = volumes[vi] as string
      const bm = tracker.pending.get(volume)
      if (bm === undefined) continue
      let b = bm.nextMarked(i === 0 ? cursor.block : 0)
      while (b !== undefined && isReserved(volume, b)) b = bm.nextMarked(b + 1)
      if (b === undefined) continue
      let count = 1
      while (count < maxBlocks && bm.has(b + count) && !isReserved(volume, b + count)) count++
      cursor = { volume: vi, block: b + count }
      return { volume, start: b, count }
    }
    return undefined
  }

  async function paced(bytes: number): Promise<void> {
    if (pacing.maxBytesPerSecond <= 0) return
    for (;;) {
      const now = Date.now()
      allowance = Math.min(pacing.maxBytesPerSecond, allowance + ((now - refilledAt) * pacing.maxBytesPerSecond) / 1000)
      refilledAt = now
      if (allowance >= bytes || allowance >= pacing.maxBytesPerSecond) break
      await sleep(Math.ceil(((bytes - allowance) * 1000) / pacing.maxBytesPerSecond))
    }
    allowance -= bytes
  }

  async function handle(run: BlockRun, epoch: number): Promise<void> {
    const mine = reserved.get(run.volume) as Set<number>
    for (let b = run.start; b < run.start + run.count; b++) mine.add(b)
    try {
      await resyncGroup(run, epoch)
    } finally {
      for (let b = run.start; b < run.start + run.count; b++) mine.delete(b)
    }
  }

  async function resyncGroup(run: BlockRun, epoch: number): Promise<void> {
    // 1. one synchronous step: read time, progress queue, read queued behind every write stamped so far
    const group = queue.begin(run, clock.tick())
    let data: Buffer
    try {
      data = await controller.readAfterWrites(run.volume, run.start, run.count)
    } catch (err) {
      queue.abandon(group.id)
      log.warn(
        { err: errorMessage(err), volume: run.volume, block: run.start },
        'resync read failed; its blocks stay marked',
      )
      await sleep(200)
      return
    }
    // 2. a suspension since the read was issued voids the group: its blocks may have been marked again after the read
    if (options.captureEpoch() !== epoch || !options.active()) {
      queue.abandon(group.id)
      return
    }
    const kept = queue.finish(group.id)
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
    if (options.captureEpoch() !== epoch) return
    let blocks = 0
    for (const r of kept) {
      tracker.clearPending(r.volume, r.start, r.count)
      blocks += r.count
    }
    tracker.persistClears()
    options.onGroupDurable(blocks)
  }

  /** Blocks a group may read now: what fits in the free half of the sidefile (one block into an empty one). */
  const blocksWithRoom = (): number => {
    const sf = controller.status().sidefile
    const fit = Math.floor((sf.maxBytes / 2 - sf.bytes) / (blockSize + ENTRY_OVERHEAD_BYTES))
    return Math.min(pacing.groupBlocks, fit > 0 ? fit : sf.bytes === 0 ? 1 : 0)
  }

  try {
    while (options.active()) {
      const room = blocksWithRoom()
      if (inFlight.size >= pacing.maxGroupsInFlight || (inFlight.size > 0 && room === 0)) {
        await Promise.race(inFlight)
        continue
      }
      if (room === 0) {
        await sleep(20)
        continue
      }
      const run = nextRun(room)
      if (run === undefined) {
        if (inFlight.size > 0) {
          await Promise.race(inFlight)
          continue
        }
        if (tracker.pendingCount() === 0 && options.settled()) return 'done'
        await sleep(20) // marks remain but all are behind a group that was just dropped: look again
        continue
      }
      await paced(run.count * blockSize)
      if (!options.active()) break
      const task: Promise<void> = handle(run, options.captureEpoch()).catch((err: unknown) =>
        log.error({ err }, 'resync group failed; its blocks stay marked'),
      )
      const tracked = task.finally(() => inFlight.delete(tracked))
      inFlight.add(tracked)
    }
    return 'stopped'
  } finally {
    await Promise.allSettled(inFlight)
  }
}
