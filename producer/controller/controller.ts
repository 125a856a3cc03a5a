/**
 * A storage controller of the primary site: owns volumes, time-stamps host
 * writes from the session clock, keeps them in its sidefile until Kafka has
 * them.
 *
 * A write is: validate; wait for sidefile space (bounded); then, in one
 * synchronous step, take the next seq and a clock tick and queue the entry
 * (so seq order = time order = sidefile order); make it durable (group
 * commit); write the volume file (in seq order per volume); acknowledge
 * {controller, seq, time}. A process killed at any point loses no
 * acknowledged write: on open the sidefile is recovered and redone onto the
 * volume files (idempotent), and seqs continue after the last one.
 *
 * While the session is suspended (`mirror.mode()` is 'mark', see
 * producer/mirror/) a write takes a tick but no seq: its blocks are marked
 * for resync (durably), then it is written to the volume, the volume is
 * synced, and it is acknowledged with seq 0. The volume writes of both kinds
 * queue behind each other per volume in time order, which is what lets a
 * resync read hold exactly the writes stamped before it
 * (`readAfterWrites`). Resync reads enter the stream as RESYNC entries
 * (`appendResync`), taking seqs and one tick in one synchronous step like a
 * host write.
 *
 * Folder: `<dataDir>/<session>/primary/controller-<id>/` holds `sidefile/`
 * and `state.json` (see controllerState.ts).
 *
 * Parts: `StorageController.write` (validate, then `capture` into the
 * sidefile or `markWrite` while suspended), VolumeOrder (volumeOrder.ts: the
 * per-volume order of volume writes), ControllerStateFile
 * (controllerState.ts: the time ceiling and the redo floor), redoSidefile
 * (controllerRecovery.ts).
 */
import { join } from 'node:path'
import { XrcError, isXrcError } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import type { Update } from '../../schemas/recordSet.js'
import type { ResyncWindow } from '../../schemas/resyncWindow.js'
import type { SessionClock } from '../sessionClock.js'
import {
  ENTRY_HEADER_BYTES,
  createGroupCommit,
  decodeEntry,
  encodeWindowEntry,
  encodeWriteEntry,
  windowEntrySize,
  openSidefile,
  writeEntrySize,
  type EntryKind,
  type WindowEntry,
  type Sidefile,
  type SidefileFullEvent,
  type SidefileStats,
} from '../sidefile/index.js'
import { redoSidefile } from './controllerRecovery.js'
import { ControllerStateFile, loadControllerState, type ControllerState } from './controllerState.js'
import { openVolumeFile, primaryDir, volumePath, type VolumeFile } from './volumeFile.js'
import { VolumeOrder } from './volumeOrder.js'
import { SegmentWriteTimes, computeSegmentCodes, type PrimarySegmentCode } from './segmentCodes.js'

export { TIME_CEILING_LEASE_US } from './controllerState.js'

/** What a writer gets back: the write is durable and on the primary volume. */
export interface WriteAck {
  controller: number
  seq: number
  /** Session clock time, µs since the epoch: pass it as `after` to order a dependent write. */
  time: number
}

export interface ControllerOptions {
  session: string
  id: number
  volumes: readonly { name: string; blocks: number }[]
  blockSize: number
  dataDir: string
  clock: SessionClock
  sidefile: { maxBytes: number; waitMs: number; segmentBytes: number; tailCacheBytes?: number }
  /** Largest data of one write, bytes (it must fit one record set). */
  maxWriteBytes: number
  logger: Logger
  onFull?: (event: SidefileFullEvent & { controller: number }) => void
  onWaited?: (ms: number, outcome: 'granted' | 'full' | 'closed') => void
  /** New entries are durable: the sender has work. */
  onDurable?: () => void
  /** Suspend and resync (producer/mirror/); without it every write is captured and sent. */
  mirror?: ControllerMirror
  /** Blocks per segment of the codes verify compares (session.segmentBlocks; 256 when absent). */
  segmentBlocks?: number
}

/**
 * What a controller asks of the session's suspend and resync
 * machinery. All calls but mark() and checkpoint() are synchronous.
 */
export interface ControllerMirror {
  /** Where the next write goes: 'capture' (sidefile, then Kafka) or 'mark' (suspended: marked for resync). */
  mode(): 'capture' | 'mark'
  /**
   * A host write took its seq and `time` (called in that synchronous step).
   * Returns what to run once the write is durable in the sidefile, if anything.
   */
  captured(volume: string, block: number, count: number, time: number): (() => void) | undefined
  /** A suspended write took `time`; resolves once its blocks are durably marked for resync. */
  mark(volume: string, block: number, count: number, time: number): Promise<void>
  /** Recovery found these blocks in a sidefile entry (sent again after the restart). */
  recovered(volume: string, block: number, count: number): void
  /** The sidefile is about to delete segments: save what must outlive them. */
  checkpoint(): Promise<void>
}

/** One run of blocks a resync read, to append as a RESYNC entry. */
export interface ResyncEntry {
  volume: string
  block: number
  data: Buffer
}

export interface ControllerStatus {
  id: number
  volumes: string[]
  /** The seq the next write gets. */
  nextSeq: number
  /** Time of the latest write (0 before any). */
  latestTime: number
  /** Last seq Kafka acknowledged in this process's life (or the last one before the sidefile, after a restart). */
  lastSentSeq: number
  inflightWrites: number
  sidefile: SidefileStats
  /** Writes acknowledged while the session was suspended (marked for resync, not sent) since start. */
  markedWrites: number
}

/** A durable sidefile entry decoded, with the position to trim to once it is sent. */
export interface PendingUpdate {
  update: Update
  end: number
  kind: EntryKind
}

/** A durable resync window event (sent as a HEARTBEAT that carries it), with the position to trim to. */
export interface PendingWindow {
  kind: 'WINDOW'
  entry: WindowEntry
  end: number
}

export type PendingEntry = PendingUpdate | PendingWindow

export interface Controller {
  readonly id: number
  readonly volumes: readonly string[]
  /** Highest time found on open (writes and heartbeat ceiling): the clock must start above it. */
  readonly recoveredTime: number
  owns(volume: string): boolean
  /** See the module comment. Errors: XRC_INVALID_RECORD, XRC_RECORD_TOO_LARGE, XRC_SIDEFILE_FULL, XRC_CLOSED. */
  write(volume: string, block: number, data: Buffer, after?: number): Promise<WriteAck>
  /** Reads `count` blocks of a volume of this controller. */
  read(volume: string, block: number, count: number): Promise<Buffer>
  /**
   * Reads blocks once every write stamped so far (captured or marked) has
   * reached the volume: called in the synchronous step that takes a resync
   * read time, the data holds every write stamped before that time.
   */
  readAfterWrites(volume: string, block: number, count: number): Promise<Buffer>
  /** The codes of segments of a volume, each with its last write time (segmentCodes.ts). */
  segmentCodes(volume: string, range: { from: number; count: number }): Promise<PrimarySegmentCode[]>
  /**
   * Appends resync reads as RESYNC entries in one synchronous step: each
   * takes the next seq, all take one fresh tick, and `stamped(time)` runs in
   * that step. Returns undefined, appending nothing, when the sidefile has no
   * room for them at once (a resync never waits for space holding a read).
   * Resolves when the entries are durable.
   */
  appendResync(entries: readonly ResyncEntry[], stamped: (time: number) => void): Promise<void> | undefined
  /**
   * Appends a resync window event (schemas/resyncWindow.ts) in the stream's
   * order: its time is a tick taken when it is queued, after every entry
   * queued before it and before every later one, and it carries the next
   * seq. Resolves with that time once the entry is durable; rejects like a
   * write (XRC_SIDEFILE_FULL after the wait bound, XRC_CLOSED).
   */
  appendWindow(window: ResyncWindow): Promise<number>
  /** Durable entries not yet acknowledged, from position `from` (undefined: the sidefile start). For the sender. */
  readPending(from: number | undefined, limits: { maxEntries: number; maxBytes: number }): Promise<PendingEntry[]>
  /** Kafka acknowledged every entry up to position `upTo`, the last being `seq`: trims the sidefile. */
  acknowledge(upTo: number, seq: number): Promise<void>
  /**
   * A heartbeat, only when every seq issued so far is acknowledged: the next
   * seq, and a fresh tick that every later write of this controller exceeds.
   * Synchronous, so no write can slip between the check and the tick.
   */
  takeHeartbeat(): { nextSeq: number; time: number } | undefined
  /** Makes the durable time ceiling cover `time` before a heartbeat with that time is sent. */
  coverTime(time: number): Promise<void>
  /**
   * Once every write stamped before the call is on the volumes, syncs them
   * and records that recovery need not redo the sidefile up to here. Call it
   * in the step that switches to marking; a marked write must not reach a
   * volume before it resolves.
   */
  checkpointRedo(): Promise<void>
  /** Writers waiting for sidefile space give up waiting now (the session suspended: they go on marked). */
  releaseWaiters(): void
  status(): ControllerStatus
  /** Waits for writes in progress, then closes the sidefile and volume files. */
  close(): Promise<void>
}

export function controllerDir(dataDir: string, session: string, id: number): string {
  return join(primaryDir(dataDir, session), `controller-${id}`)
}

/** Opens a controller: volume files, sidefile recovery, redo of the sidefile onto the volumes. */
export async function openController(options: ControllerOptions): Promise<Controller> {
  const { id } = options
  const log = options.logger.child({ component: 'controller', controller: id })
  const dir = controllerDir(options.dataDir, options.session, id)
  const volumes = new Map<string, VolumeFile>()
  const order = new VolumeOrder()
  let sidefile: Sidefile | undefined
  try {
    for (const v of options.volumes) {
      const path = volumePath(options.dataDir, options.session, v.name)
      volumes.set(v.name, await openVolumeFile({ path, name: v.name, blocks: v.blocks, blockSize: options.blockSize }))
    }
    sidefile = await openSidefile({
      dir: join(dir, 'sidefile'),
      ...options.sidefile,
      logger: log,
      onFull: (event) => options.onFull?.({ ...event, controller: id }),
      ...(options.onWaited ? { onWaited: options.onWaited } : {}),
      onDurable: () => options.onDurable?.(),
      // checkpoint: segments about to go must not be needed for redo any more
      beforeDelete: async () => {
        await order.settled()
        for (const v of volumes.values()) await v.sync()
        await options.mirror?.checkpoint()
      },
    })
    const state = await loadControllerState(dir)
    const redone = await redoSidefile(sidefile, volumes, options, log, state.redoFrom)
    return new StorageController(options, log, { dir, volumes, order, sidefile, state, ...redone })
  } catch (err) {
    await sidefile?.close()
    for (const v of volumes.values()) await v.close()
    throw err
  }
}

/** What openController found and opened. */
interface Opened {
  dir: string
  volumes: Map<string, VolumeFile>
  order: VolumeOrder
  sidefile: Sidefile
  state: ControllerState
  /** From the sidefile's redo: its first and last seq, the last time. */
  firstSeq: number | undefined
  lastSeq: number
  lastTime: number
}

class StorageController implements Controller {
  readonly id: number
  readonly volumes: readonly string[]
  readonly recoveredTime: number
  readonly #opts: ControllerOptions
  readonly #log: Logger
  readonly #clock: SessionClock
  readonly #dir: string
  readonly #files: Map<string, VolumeFile>
  readonly #order: VolumeOrder
  readonly #sidefile: Sidefile
  readonly #stateFile: ControllerStateFile
  // concurrent marked writes to a volume share one fdatasync
  readonly #volumeSyncs: Map<string, () => Promise<void>>
  // per segment, the time of the last write (segmentCodes.ts)
  readonly #writeTimes: SegmentWriteTimes
  #lastSeq: number
  #latestTime: number
  #lastSentSeq: number
  #inflight = 0
  #markedWrites = 0
  #closed = false
  #idle: (() => void) | undefined

  constructor(opts: ControllerOptions, log: Logger, s: Opened) {
    this.id = opts.id
    this.#opts = opts
    this.#log = log
    this.#clock = opts.clock
    this.#dir = s.dir
    this.#files = s.volumes
    this.#order = s.order
    this.#sidefile = s.sidefile
    this.volumes = [...s.volumes.keys()]
    // the state file's seq is an acknowledged one, so never above the
    // sidefile's last entry; it matters when the sidefile is empty
    this.#lastSeq = Math.max(s.state.lastSeq, s.lastSeq)
    this.#latestTime = Math.max(s.state.lastTime, s.lastTime)
    // after a restart everything still in the sidefile is sent again
    this.#lastSentSeq = s.firstSeq === undefined ? this.#lastSeq : s.firstSeq - 1
    this.recoveredTime = Math.max(s.state.timeCeiling, this.#latestTime)
    this.#stateFile = new ControllerStateFile(s.dir, s.state, () => this.#lastSentSeq)
    this.#volumeSyncs = new Map([...s.volumes].map(([name, v]) => [name, createGroupCommit(() => v.sync())]))
    this.#writeTimes = new SegmentWriteTimes(opts.volumes, opts.segmentBlocks ?? 256, this.recoveredTime)
  }

  owns(volume: string): boolean {
    return this.#files.has(volume)
  }

  async write(volume: string, block: number, data: Buffer, after?: number): Promise<WriteAck> {
    this.#checkOpen()
    const v = this.#volumeOf(volume)
    this.#checkWriteData(volume, data)
    this.#checkRange(v, block, data.length / this.#opts.blockSize)
    if (after !== undefined) this.#clock.observe(after)
    const mirror = this.#opts.mirror
    this.#inflight++
    try {
      if (mirror?.mode() === 'mark') return await this.#markWrite(v, block, data, mirror)
      try {
        return await this.#capture(v, block, data)
      } catch (err) {
        // the sidefile stayed full for the wait bound and the session suspended (onFull): the write goes on, marked
        if (isXrcError(err, 'XRC_SIDEFILE_FULL') && mirror?.mode() === 'mark')
          return await this.#markWrite(v, block, data, mirror)
        throw err
      }
    } finally {
      if (--this.#inflight === 0) this.#idle?.()
    }
  }

  async read(volume: string, block: number, count: number): Promise<Buffer> {
    this.#checkOpen()
    const v = this.#volumeOf(volume)
    if (!Number.isSafeInteger(count) || count < 1)
      throw new XrcError('XRC_INVALID_RECORD', { reason: 'badCount', count, controller: this.id, volume })
    this.#checkRange(v, block, count)
    return v.read(block, count)
  }

  readAfterWrites(volume: string, block: number, count: number): Promise<Buffer> {
    const v = this.#volumeOf(volume)
    this.#checkRange(v, block, count)
    return this.#order.tail(volume).then(() => v.read(block, count))
  }

  /** The codes of segments of a volume, each with its last write time (segmentCodes.ts). */
  segmentCodes(volume: string, range: { from: number; count: number }): Promise<PrimarySegmentCode[]> {
    this.#checkOpen()
    const v = this.#volumeOf(volume)
    return computeSegmentCodes(v, this.#writeTimes, (block, count) => this.readAfterWrites(volume, block, count), range)
  }

  appendResync(entries: readonly ResyncEntry[], stamped: (time: number) => void): Promise<void> | undefined {
    if (this.#closed || entries.length === 0) return undefined
    const sizes = entries.map((e) => writeEntrySize(e.volume, e.data.length))
    const st = this.#sidefile.stats()
    const total = sizes.reduce((n, size) => n + size + ENTRY_HEADER_BYTES, 0)
    // with no writer waiting and room for all, each append below queues at once, in this step
    if (st.waitingWriters > 0 || st.bytes + total > st.maxBytes) return undefined
    const time = this.#clock.tick()
    this.#latestTime = time
    const appended = entries.map((e, i) =>
      this.#sidefile.append(sizes[i] as number, () =>
        encodeWriteEntry({ seq: ++this.#lastSeq, time, volume: e.volume, block: e.block, data: e.data }, 'RESYNC'),
      ),
    )
    stamped(time)
    return Promise.all(appended).then(() => undefined)
  }

  async appendWindow(window: ResyncWindow): Promise<number> {
    if (this.#closed) throw new XrcError('XRC_CLOSED', { reason: 'controller', controller: this.id })
    let time = 0
    await this.#sidefile.append(windowEntrySize(window), () => {
      // no await between the tick and queueing the entry: stream order = time order
      time = this.#clock.tick()
      this.#latestTime = time
      return encodeWindowEntry({ nextSeq: this.#lastSeq + 1, time, window })
    })
    return time
  }

  async readPending(
    from: number | undefined,
    limits: { maxEntries: number; maxBytes: number },
  ): Promise<PendingEntry[]> {
    const entries = await this.#sidefile.read(from ?? this.#sidefile.stats().start, limits)
    return entries.map((e) => ({ ...decodeEntry(e.payload, `${this.#dir} position ${e.position}`), end: e.end }))
  }

  async acknowledge(upTo: number, seq: number): Promise<void> {
    this.#lastSentSeq = Math.max(this.#lastSentSeq, seq)
    await this.#sidefile.trim(upTo)
  }

  takeHeartbeat(): { nextSeq: number; time: number } | undefined {
    // suspended: a heartbeat would let the consistency time pass writes that are only marked.
    // An entry not yet acknowledged (a resync window event takes no seq) must reach Kafka before a later time
    if (
      this.#closed ||
      this.#lastSentSeq !== this.#lastSeq ||
      this.#opts.mirror?.mode() === 'mark' ||
      this.#sidefile.stats().entries > 0
    )
      return undefined
    return { nextSeq: this.#lastSeq + 1, time: this.#clock.tick() }
  }

  coverTime(time: number): Promise<void> {
    return this.#stateFile.coverTime(time)
  }

  checkpointRedo(): Promise<void> {
    // taken now: the writes stamped so far (later, marked ones wait for this checkpoint)
    const upTo = this.#sidefile.stats().end
    const stamped = this.#order.settled()
    return this.#stateFile.checkpointRedo(upTo, async () => {
      await stamped
      for (const v of this.#files.values()) await v.sync()
    })
  }

  releaseWaiters(): void {
    this.#sidefile.releaseWaiters()
  }

  status(): ControllerStatus {
    return {
      id: this.id,
      volumes: this.volumes as string[],
      nextSeq: this.#lastSeq + 1,
      latestTime: this.#latestTime,
      lastSentSeq: this.#lastSentSeq,
      inflightWrites: this.#inflight,
      sidefile: this.#sidefile.stats(),
      markedWrites: this.#markedWrites,
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    // writers still waiting for space get XRC_CLOSED; durable ones finish their volume write
    await this.#sidefile.close()
    if (this.#inflight > 0) await new Promise<void>((resolve) => (this.#idle = resolve))
    await this.#stateFile.settled().catch((err: unknown) => this.#log.warn({ err }, 'saving the time ceiling failed'))
    for (const v of this.#files.values()) await v.close()
  }

  /**
   * A captured write: appended to the sidefile (taking its seq and tick in
   * the step that queues the entry), then written to the volume in order
   * once durable. Resolves when both are done.
   */
  async #capture(v: VolumeFile, block: number, data: Buffer): Promise<WriteAck> {
    const volume = v.name
    let ack: WriteAck | undefined
    let applied: Promise<void> | undefined
    await this.#sidefile.append(writeEntrySize(volume, data.length), (durable) => {
      // no await between taking the seq, the tick and queueing the entry
      const seq = ++this.#lastSeq
      const time = this.#clock.tick()
      this.#latestTime = time
      this.#writeTimes.wrote(volume, block, data.length / this.#opts.blockSize, time)
      ack = { controller: this.id, seq, time }
      applied = this.#order.after(volume, durable, () => v.write(block, data))
      applied.catch(() => undefined) // observed below, or through append()'s own rejection
      const onDurable = this.#opts.mirror?.captured(volume, block, data.length / this.#opts.blockSize, time)
      if (onDurable) durable.then(onDurable, () => undefined)
      return encodeWriteEntry({ seq, time, volume, block, data })
    })
    await applied
    return ack as WriteAck
  }

  /** A write while suspended: marked for resync (durably), then written and synced; no seq. */
  async #markWrite(v: VolumeFile, block: number, data: Buffer, marking: ControllerMirror): Promise<WriteAck> {
    const volume = v.name
    const time = this.#clock.tick()
    const count = data.length / this.#opts.blockSize
    this.#writeTimes.wrote(volume, block, count, time)
    // the mark is durable before the volume changes; the ceiling keeps the clock above this time after a restart
    const marked = Promise.all([marking.mark(volume, block, count, time), this.coverTime(time)]).then(() => undefined)
    await this.#order.after(volume, marked, () => v.write(block, data))
    await (this.#volumeSyncs.get(volume) as () => Promise<void>)()
    this.#markedWrites++
    return { controller: this.id, seq: 0, time }
  }

  #checkOpen(): void {
    if (this.#closed) throw new XrcError('XRC_CLOSED', { reason: 'controller', controller: this.id })
  }

  #volumeOf(volume: string): VolumeFile {
    const v = this.#files.get(volume)
    if (v === undefined) {
      throw new XrcError('XRC_INVALID_RECORD', {
        reason: 'foreignVolume',
        volume,
        controller: this.id,
        volumes: this.volumes,
      })
    }
    return v
  }

  #checkWriteData(volume: string, data: Buffer): void {
    const { blockSize, maxWriteBytes } = this.#opts
    if (!Buffer.isBuffer(data) || data.length === 0 || data.length % blockSize !== 0) {
      throw new XrcError('XRC_INVALID_RECORD', {
        reason: 'partialBlocks',
        blockSize,
        got: Buffer.isBuffer(data) ? data.length : typeof data,
        controller: this.id,
        volume,
      })
    }
    if (data.length > maxWriteBytes) {
      throw new XrcError('XRC_RECORD_TOO_LARGE', {
        reason: 'write',
        bytes: data.length,
        maxBytes: maxWriteBytes,
        controller: this.id,
        volume,
      })
    }
  }

  #checkRange(v: VolumeFile, block: number, count: number): void {
    if (!Number.isSafeInteger(block) || block < 0 || block + count > v.blocks) {
      throw new XrcError('XRC_INVALID_RECORD', {
        reason: 'outsideVolume',
        first: block,
        last: block + count - 1,
        volume: v.name,
        lastBlock: v.blocks - 1,
        controller: this.id,
      })
    }
  }
}
