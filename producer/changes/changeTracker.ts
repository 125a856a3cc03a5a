/**
 * A controller's record of changed blocks, on the primary:
 *
 * - pending: per volume, the blocks changed while the session was suspended
 *   (the patents' update map) and not yet resynced. A mark is durable before
 *   the write that made it is acknowledged, so a crash loses none.
 * - generations: per volume, two generations of the blocks written into the
 *   stream that the secondary has not confirmed (dynamic change
 *   management, changeGenerations.ts). They are saved before the sidefile
 *   deletes a segment (the only moment stream writes leave the primary's
 *   durable record) and at close; recovery marks again every entry still in
 *   the sidefile.
 *
 * When the journal or the updates topic is lost, `foldGenerations` moves
 * what the generations name into the pending bitmaps: the resync then copies
 * exactly those blocks.
 */
import type { Logger } from '../../lib/logger.js'
import type { ChangeBitmap } from './changeBitmap.js'
import { changesDir, loadGenerations, openPendingFiles, saveGenerations, type PendingFiles } from './changeFiles.js'
import { ChangeGenerations } from './changeGenerations.js'

export interface ChangeCounts {
  /** Blocks marked for resync. */
  pending: number
  /** Blocks named by the older and the newer change generation. */
  older: number
  newer: number
}

export interface ChangeTracker {
  /** The resync bitmaps, by volume (read them; change them through this tracker). */
  readonly pending: ReadonlyMap<string, ChangeBitmap>
  /** Marks blocks for resync; resolves once the mark is durable. */
  markPending(volume: string, block: number, count: number): Promise<void>
  /** Unmarks blocks whose newest data is durable in the stream's path (sidefile). Lazy on disk. */
  clearPending(volume: string, block: number, count: number): void
  /**
   * Writes the clears made so far, in the background (one group-committed flush): a crash then resends fewer blocks.
   */
  persistClears(): void
  /** A write (host or resync) of these blocks entered the stream. */
  noteSent(volume: string, block: number, count: number): void
  /**
   * The secondary applied every stream write up to `appliedTime`;
   * `now` starts a new generation when the older one goes.
   */
  confirm(appliedTime: number, now: number): boolean
  /**
   * Marks for resync every block the generations name, durably,
   * then forgets the generations. Returns the blocks newly marked.
   */
  foldGenerations(): Promise<number>
  pendingCount(): number
  counts(): ChangeCounts
  /** Saves the generations and writes pending clears (before the sidefile deletes segments, and at close). */
  checkpoint(): Promise<void>
  close(): Promise<void>
}

export async function openChangeTracker(options: {
  controllerDir: string
  volumes: readonly { name: string; blocks: number }[]
  logger: Logger
}): Promise<ChangeTracker> {
  const dir = changesDir(options.controllerDir)
  const files: PendingFiles = await openPendingFiles(dir, options.volumes)
  const generations = new ChangeGenerations(options.volumes, await loadGenerations(dir, options.volumes))
  let saving: Promise<void> = Promise.resolve()
  const pendingTotal = (): number => [...files.bitmaps.values()].reduce((n, bm) => n + bm.count, 0)
  const initial = pendingTotal()
  if (initial > 0) options.logger.info({ pendingBlocks: initial }, 'change bitmaps recovered: blocks await resync')

  async function checkpoint(): Promise<void> {
    // serialized: two saves of the same file never race
    const run = async (): Promise<void> => {
      await saveGenerations(dir, generations.snapshot())
      await files.flush()
    }
    saving = saving.then(run, run)
    return saving
  }

  return {
    pending: files.bitmaps,
    markPending: (volume, block, count) => files.mark(volume, block, count),
    clearPending: (volume, block, count) => files.clear(volume, block, count),
    persistClears() {
      files
        .flush()
        .catch((err: unknown) =>
          options.logger.warn({ err }, 'writing cleared marks failed; they are written again later'),
        )
    },
    noteSent: (volume, block, count) => generations.mark(volume, block, count),
    confirm: (appliedTime, now) => generations.confirm(appliedTime, now),
    async foldGenerations() {
      let added = 0
      const marks: Promise<void>[] = []
      for (const volume of generations.volumes()) {
        const union = generations.union(volume)
        const pending = files.bitmaps.get(volume)
        if (pending === undefined) continue
        for (let b = union.nextMarked(0); b !== undefined; b = union.nextMarked(b + 1)) {
          if (pending.has(b)) continue
          added++
          marks.push(files.mark(volume, b, 1))
        }
      }
      await Promise.all(marks)
      // only once the marks are durable may the generations forget them
      generations.clear()
      await checkpoint()
      return added
    },
    pendingCount: pendingTotal,
    counts() {
      const g = generations.counts()
      return { pending: pendingTotal(), older: g.older, newer: g.newer }
    },
    checkpoint,
    async close() {
      await checkpoint()
      await files.close()
    },
  }
}
