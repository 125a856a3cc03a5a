/**
 * The controllers a mirror serves, each with its change bitmaps, its resync
 * progress queue and its saved mirror record, and what the mirror asks of
 * all of them at once.
 */
import type { Logger } from '../../lib/logger.js'
import type { ResyncWindow } from '../../schemas/resyncWindow.js'
import { openChangeTracker, type ChangeCounts, type ChangeTracker } from '../changes/index.js'
import type { Controller, ControllerMirror } from '../controller/index.js'
import { loadMirrorRecord, saveMirrorRecord, type MirrorRecord } from './mirrorRecord.js'
import { ProgressQueue } from './resyncOrdering.js'

export interface MirrorUnit {
  id: number
  dir: string
  tracker: ChangeTracker
  queue: ProgressQueue
  controller?: Controller
  record: MirrorRecord
  volumeBlocks: number
}

export class MirrorUnits {
  readonly #units = new Map<number, MirrorUnit>()
  readonly #log: Logger

  constructor(log: Logger) {
    this.#log = log
  }

  /** Opens a controller's change bitmaps and record, then the controller with the hooks `hooks` gives. */
  async open(
    id: number,
    volumes: readonly { name: string; blocks: number }[],
    dir: string,
    hooks: (unit: MirrorUnit) => ControllerMirror,
    openController: (hooks: ControllerMirror) => Promise<Controller>,
  ): Promise<Controller> {
    const tracker = await openChangeTracker({
      controllerDir: dir,
      volumes,
      logger: this.#log.child({ controller: id }),
    })
    try {
      const unit: MirrorUnit = {
        id,
        dir,
        tracker,
        queue: new ProgressQueue(),
        record: await loadMirrorRecord(dir),
        volumeBlocks: volumes.reduce((n, v) => n + v.blocks, 0),
      }
      this.#units.set(id, unit)
      const c = await openController(hooks(unit))
      unit.controller = c
      return c
    } catch (err) {
      this.#units.delete(id)
      await tracker.close().catch(() => undefined)
      throw err
    }
  }

  all(): MirrorUnit[] {
    return [...this.#units.values()]
  }

  /** Each controller's saved record with its marked-block count, as the process found them. */
  records(): { record: MirrorRecord; pending: number }[] {
    return this.all().map((u) => ({ record: u.record, pending: u.tracker.pendingCount() }))
  }

  pendingTotal(): number {
    return this.all().reduce((n, u) => n + u.tracker.pendingCount(), 0)
  }

  volumeBlocks(): number {
    return this.all().reduce((n, u) => n + u.volumeBlocks, 0)
  }

  counts(): ChangeCounts {
    return this.all().reduce<ChangeCounts>(
      (acc, u) => {
        const c = u.tracker.counts()
        return { pending: acc.pending + c.pending, older: acc.older + c.older, newer: acc.newer + c.newer }
      },
      { pending: 0, older: 0, newer: 0 },
    )
  }

  staleCopies(): number {
    return this.all().reduce((n, u) => n + u.queue.staleCopies, 0)
  }

  /** Every sidefile at most half full (else a resume would fill them again at once). */
  sidefilesDrained(): boolean {
    return this.all().every(
      (u) => (u.controller?.status().sidefile.bytes ?? 0) <= (u.controller?.status().sidefile.maxBytes ?? 0) / 2,
    )
  }

  /**
   * The switching step of a suspension: each redo floor covers exactly the writes captured so far, and a writer
   * still waiting for sidefile space (it would take a seq and a time after S) goes on marked instead. Returns the
   * floors: marks and marked writes wait for them, so recovery never redoes an older entry over them.
   */
  switchToMarking(): Promise<unknown>[] {
    const floors = this.all().map((u) => u.controller?.checkpointRedo())
    for (const u of this.all()) u.controller?.releaseWaiters()
    return floors.filter((f) => f !== undefined)
  }

  /** Appends a resync window event to every controller's sidefile; resolves to the times they were stamped. */
  appendWindow(event: (unit: MirrorUnit) => ResyncWindow): Promise<number[]> {
    return Promise.all(this.all().map((u) => (u.controller as Controller).appendWindow(event(u))))
  }

  /** Saves `record` in every controller's folder, one after the other. */
  async save(record: MirrorRecord): Promise<void> {
    for (const u of this.all()) {
      await saveMirrorRecord(u.dir, record)
      u.record = record
    }
  }

  /** The secondary applied every stream write up to `time`: the older change generation may go. */
  confirm(time: number, tick: () => number): void {
    for (const u of this.all()) u.tracker.confirm(time, tick())
  }

  /** Marks every block the change generations name; returns how many were newly marked. */
  async foldGenerations(): Promise<number> {
    let blocks = 0
    for (const u of this.all()) blocks += await u.tracker.foldGenerations()
    return blocks
  }

  async close(): Promise<void> {
    for (const u of this.all())
      await u.tracker
        .close()
        .catch((err: unknown) => this.#log.error({ err, controller: u.id }, 'closing the change bitmaps failed'))
    this.#units.clear()
  }
}
