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
 * Folder: `<dataDir>/<session>/primary/controller-<id>/` holds `sidefile/`
 * and `state.json` (see controllerState.ts).
 */
import { join } from 'node:path'
import { XrcError } from '../lib/errors.js'
import type { Logger } from '../lib/logger.js'
import type { Update } from '../schemas/recordSet.js'
import { loadControllerState, saveControllerState, type ControllerState } from './controllerState.js'
import type { SessionClock } from './sessionClock.js'
import { openSidefile, type Sidefile, type SidefileFullEvent, type SidefileStats } from './sidefile.js'
import { decodeWriteEntry, encodeWriteEntry, writeEntrySize } from './sidefileEntry.js'
import { openVolumeFile, primaryDir, volumePath, type VolumeFile } from './volumeFile.js'

/** How far above a heartbeat's time the durable ceiling is set, so most heartbeats need no state write. */
export const TIME_CEILING_LEASE_US = 1_000_000

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
  sidefile: { maxBytes: number; waitMs: number; segmentBytes: number }
  /** Largest data of one write, bytes (it must fit one record set). */
  maxWriteBytes: number
  logger: Logger
  onFull?: (event: SidefileFullEvent & { controller: number }) => void
  onWaited?: (ms: number, outcome: 'granted' | 'full' | 'closed') => void
  /** New entries are durable: the sender has work. */
  onDurable?: () => void
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
}

/** A durable sidefile entry decoded, with the position to trim to once it is sent. */
export interface PendingUpdate {
  update: Update
  end: number
}

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
  /** Durable entries not yet acknowledged, from position `from` (undefined: the sidefile start). For the sender. */
  readPending(from: number | undefined, limits: { maxEntries: number; maxBytes: number }): Promise<PendingUpdate[]>
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
  status(): ControllerStatus
  /** Waits for writes in progress, then closes the sidefile and volume files. */
  close(): Promise<void>
}

export function controllerDir(dataDir: string, session: string, id: number): string {
  return join(primaryDir(dataDir, session), `controller-${id}`)
}

/** Opens a controller: volume files, sidefile recovery, redo of the sidefile onto the volumes. */
export async function openController(options: ControllerOptions): Promise<Controller> {
  const { id, blockSize, clock } = options
  const log = options.logger.child({ component: 'controller', controller: id })
  const dir = controllerDir(options.dataDir, options.session, id)
  const volumes = new Map<string, VolumeFile>()
  let sidefile: Sidefile | undefined
  try {
    for (const v of options.volumes) {
      volumes.set(v.name, await openVolumeFile({ path: volumePath(options.dataDir, options.session, v.name), name: v.name, blocks: v.blocks, blockSize }))
    }
    // the volume writes behind each volume's latest one, so writes reach a volume in seq order
    const tails = new Map<string, Promise<void>>()
    const settledTails = (): Promise<unknown> => Promise.all(tails.values())
    sidefile = await openSidefile({
      dir: join(dir, 'sidefile'),
      ...options.sidefile,
      logger: log,
      onFull: (event) => options.onFull?.({ ...event, controller: id }),
      ...(options.onWaited ? { onWaited: options.onWaited } : {}),
      onDurable: () => options.onDurable?.(),
      // checkpoint: segments about to go must not be needed for redo any more
      beforeDelete: async () => {
        await settledTails()
        for (const v of volumes.values()) await v.sync()
      },
    })
    const state = await loadControllerState(dir)
    const redone = await redo(sidefile, volumes, options, log)
    return createController(options, { dir, volumes, tails, sidefile, state, ...redone })
  } catch (err) {
    await sidefile?.close()
    for (const v of volumes.values()) await v.close()
    throw err
  }

  function createController(
    opts: ControllerOptions,
    s: { dir: string; volumes: Map<string, VolumeFile>; tails: Map<string, Promise<void>>; sidefile: Sidefile; state: ControllerState; lastSeq: number; lastTime: number; firstSeq: number | undefined },
  ): Controller {
    const ceilingState: ControllerState = { ...s.state }
    // the state file's seq is an acknowledged one, so never above the sidefile's last entry; it matters when the sidefile is empty
    let lastSeq = Math.max(s.state.lastSeq, s.lastSeq)
    let latestTime = Math.max(s.state.lastTime, s.lastTime)
    // after a restart everything still in the sidefile is sent again
    let lastSentSeq = s.firstSeq === undefined ? lastSeq : s.firstSeq - 1
    let inflight = 0
    let closed = false
    let idle: (() => void) | undefined
    let savingCeiling: Promise<void> = Promise.resolve()
    const names = [...s.volumes.keys()]

    function volumeOf(volume: string): VolumeFile {
      const v = s.volumes.get(volume)
      if (v === undefined) {
        throw new XrcError('XRC_INVALID_RECORD', `volume "${volume}" does not belong to controller ${id} (its volumes: ${names.join(', ')})`, { context: { controller: id, volume } })
      }
      return v
    }

    function checkRange(v: VolumeFile, block: number, count: number): void {
      if (!Number.isSafeInteger(block) || block < 0 || block + count > v.blocks) {
        throw new XrcError('XRC_INVALID_RECORD', `blocks ${block}..${block + count - 1} are outside volume "${v.name}" (blocks 0..${v.blocks - 1})`, { context: { controller: id, volume: v.name } })
      }
    }

    function inOrder(volume: string, durable: Promise<void>, apply: () => Promise<void>): Promise<void> {
      const prev = s.tails.get(volume) ?? Promise.resolve()
      const done = prev.then(() => durable).then(apply)
      const settle = (): void => undefined
      s.tails.set(volume, done.then(settle, settle)) // the next write waits for this one, whatever its outcome
      return done
    }

    return {
      id,
      volumes: names,
      recoveredTime: Math.max(s.state.timeCeiling, latestTime),
      owns: (volume) => s.volumes.has(volume),

      async write(volume, block, data, after) {
        if (closed) throw new XrcError('XRC_CLOSED', `controller ${id} is closed`, { context: { controller: id } })
        const v = volumeOf(volume)
        if (!Buffer.isBuffer(data) || data.length === 0 || data.length % blockSize !== 0) {
          throw new XrcError('XRC_INVALID_RECORD', `data must be a non-zero multiple of the block size ${blockSize} bytes, got ${Buffer.isBuffer(data) ? data.length : typeof data} bytes`, {
            context: { controller: id, volume },
          })
        }
        if (data.length > opts.maxWriteBytes) {
          throw new XrcError('XRC_RECORD_TOO_LARGE', `a write of ${data.length} bytes exceeds the largest one record set carries (${opts.maxWriteBytes} bytes)`, { context: { controller: id, volume } })
        }
        checkRange(v, block, data.length / blockSize)
        if (after !== undefined) clock.observe(after)
        let ack: WriteAck | undefined
        let applied: Promise<void> | undefined
        inflight++
        try {
          await s.sidefile.append(writeEntrySize(volume, data.length), (durable) => {
            // no await between taking the seq, the tick and queueing the entry
            const seq = ++lastSeq
            const time = clock.tick()
            latestTime = time
            ack = { controller: id, seq, time }
            applied = inOrder(volume, durable, () => v.write(block, data))
            applied.catch(() => undefined) // observed below, or through append()'s own rejection
            return encodeWriteEntry({ seq, time, volume, block, data })
          })
          await applied
          return ack as WriteAck
        } finally {
          if (--inflight === 0) idle?.()
        }
      },

      async read(volume, block, count) {
        if (closed) throw new XrcError('XRC_CLOSED', `controller ${id} is closed`, { context: { controller: id } })
        const v = volumeOf(volume)
        if (!Number.isSafeInteger(count) || count < 1) throw new XrcError('XRC_INVALID_RECORD', `count must be a positive integer, got ${count}`, { context: { controller: id, volume } })
        checkRange(v, block, count)
        return v.read(block, count)
      },

      async readPending(from, limits) {
        const entries = await s.sidefile.read(from ?? s.sidefile.stats().start, limits)
        return entries.map((e) => ({ update: decodeWriteEntry(e.payload, `${s.dir} position ${e.position}`), end: e.end }))
      },

      async acknowledge(upTo, seq) {
        lastSentSeq = Math.max(lastSentSeq, seq)
        await s.sidefile.trim(upTo)
      },

      takeHeartbeat() {
        if (closed || lastSentSeq !== lastSeq) return undefined
        return { nextSeq: lastSeq + 1, time: clock.tick() }
      },

      coverTime(time) {
        const run = async (): Promise<void> => {
          if (time < ceilingState.timeCeiling) return
          // only an acknowledged seq: a seq taken but not yet durable must not be skipped after a crash
          const next = { lastSeq: lastSentSeq, lastTime: time, timeCeiling: time + TIME_CEILING_LEASE_US }
          await saveControllerState(s.dir, next)
          Object.assign(ceilingState, next)
        }
        savingCeiling = savingCeiling.then(run, run)
        return savingCeiling
      },

      status() {
        return { id, volumes: names, nextSeq: lastSeq + 1, latestTime, lastSentSeq, inflightWrites: inflight, sidefile: s.sidefile.stats() }
      },

      async close() {
        if (closed) return
        closed = true
        // writers still waiting for space get XRC_CLOSED; durable ones finish their volume write
        await s.sidefile.close()
        if (inflight > 0) await new Promise<void>((resolve) => (idle = resolve))
        await savingCeiling.catch((err: unknown) => log.warn({ err }, 'saving the time ceiling failed'))
        for (const v of s.volumes.values()) await v.close()
      },
    }
  }
}

/**
 * Redoes every sidefile entry onto the volume files, in seq order (a crash
 * may have come between an entry's append and its volume write; writing it
 * again is harmless). Checks that seqs are contiguous and times
 * non-decreasing. Returns the first and last seq and the last time.
 */
async function redo(sidefile: Sidefile, volumes: Map<string, VolumeFile>, options: ControllerOptions, log: Logger): Promise<{ firstSeq: number | undefined; lastSeq: number; lastTime: number }> {
  let pos = sidefile.stats().start
  let firstSeq: number | undefined
  let lastSeq = 0
  let lastTime = 0
  let count = 0
  for (;;) {
    const entries = await sidefile.read(pos, { maxEntries: 1024, maxBytes: 8 * 1024 * 1024 })
    if (entries.length === 0) break
    for (const e of entries) {
      const where = `${sidefile.dir} position ${e.position}`
      const u = decodeWriteEntry(e.payload, where)
      if (firstSeq !== undefined && (u.seq !== lastSeq + 1 || u.time < lastTime)) {
        throw new XrcError('XRC_SIDEFILE_CORRUPT', `sidefile entry ${where}: seq ${u.seq} time ${u.time} does not follow seq ${lastSeq} time ${lastTime}`, { context: { controller: options.id } })
      }
      const v = volumes.get(u.volume)
      if (v === undefined || u.data.length % options.blockSize !== 0 || u.block + u.data.length / options.blockSize > v.blocks) {
        throw new XrcError('XRC_CONFIG_INVALID', `sidefile entry ${where} writes volume "${u.volume}" blocks from ${u.block}, which the configuration of controller ${options.id} no longer holds`, {
          context: { controller: options.id, volume: u.volume },
        })
      }
      await v.write(u.block, u.data)
      firstSeq ??= u.seq
      lastSeq = u.seq
      lastTime = u.time
      count++
      pos = e.end
    }
  }
  if (count > 0) log.info({ entries: count, firstSeq, lastSeq }, 'sidefile recovered and redone onto the volumes; its entries will be sent again')
  return { firstSeq, lastSeq, lastTime }
}
