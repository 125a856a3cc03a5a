/**
 * A dependent-write workload across controllers, the kind that breaks a
 * mirror that is not consistent: each writer writes X on one controller,
 * waits for its acknowledgement, then writes Y on another controller naming
 * X (in its bytes) and passing X's time as the causal token. A secondary
 * that ever shows Y without X is not crash-consistent.
 *
 * Writers own disjoint blocks, so per block the program order is the write
 * order. A failed request marks the write in doubt (or refused, when the
 * target says it certainly did not take it: context.notWritten) and the
 * writer waits for the target to come back (it may have been killed on
 * purpose).
 */
import { encodeBlock } from './blockContent.js'
import { WriteLog, type WriteRecord } from './writeLog.js'

export interface WriteAck {
  controller: number
  seq: number
  time: number
}

/** Where the workload writes: a primary in this process, or its HTTP API. */
export interface WriteTarget {
  write(req: { volume: string; block: number; data: Buffer; after?: number }): Promise<WriteAck>
}

export interface WorkloadVolume {
  name: string
  blocks: number
  controller: number
}

export interface WorkloadOptions {
  volumes: readonly WorkloadVolume[]
  blockSize: number
  /** Concurrent writer loops. */
  writers: number
  /** Blocks each writer uses per volume (a hot set); default: all it owns. */
  blocksPerWriter?: number
  signal: AbortSignal
  /** Called after each acknowledged write (progress, latency). */
  onAck?: (rec: WriteRecord, latencyMs: number) => void
  /** A failed write: return how long to wait before the next attempt (the target may be restarting). */
  onError?: (err: unknown, rec: WriteRecord) => number
  /** Deterministic choices. */
  seed?: number
  log?: WriteLog
}

export interface WorkloadResult {
  log: WriteLog
  acked: number
  inDoubt: number
  /** Writes certainly not taken (the target said so, or nothing listened). */
  refused: number
  errors: number
}

function rng(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9
  return () => {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    return (s >>> 0) / 0x100000000
  }
}

/** Runs until `signal` aborts; resolves once every writer has finished its current write. */
export async function runDependentWrites(target: WriteTarget, options: WorkloadOptions): Promise<WorkloadResult> {
  const log = options.log ?? new WriteLog()
  const controllers = [...new Set(options.volumes.map((v) => v.controller))]
  if (controllers.length < 2)
    throw new RangeError('a dependent-write workload needs volumes on at least two controllers')
  let errors = 0
  let inDoubt = 0
  let refused = 0
  let acked = 0

  async function writeOne(rec: WriteRecord, after?: number): Promise<number | undefined> {
    const data = encodeBlock(options.blockSize, rec.id, rec.dependsOn)
    const started = performance.now()
    try {
      const ack = await target.write({
        volume: rec.volume,
        block: rec.block,
        data,
        ...(after !== undefined ? { after } : {}),
      })
      log.ack(rec.id, ack.time)
      acked++
      options.onAck?.(rec, performance.now() - started)
      return ack.time
    } catch (err) {
      errors++
      if ((err as { context?: { notWritten?: boolean } }).context?.notWritten === true) {
        refused++
        log.refused(rec.id)
      } else {
        inDoubt++
        log.inDoubt(rec.id)
      }
      const wait = options.onError?.(err, rec) ?? 100
      await new Promise((r) => setTimeout(r, wait))
      return undefined
    }
  }

  async function writer(index: number): Promise<void> {
    const random = rng((options.seed ?? 1) * 7919 + index)
    const owned = (v: WorkloadVolume): number => {
      // blocks b with b % writers == index, optionally only the first few (a hot set)
      const count = Math.floor((v.blocks - 1 - index) / options.writers) + 1
      const k = Math.floor(random() * Math.min(count, options.blocksPerWriter ?? count))
      return index + k * options.writers
    }
    const pickVolume = (notController?: number): WorkloadVolume => {
      const choices = options.volumes.filter((v) => v.controller !== notController && v.blocks > index)
      const v = choices[Math.floor(random() * choices.length)]
      if (!v) throw new RangeError('no volume to write')
      return v
    }
    while (!options.signal.aborted) {
      const vx = pickVolume()
      const x = log.begin(vx.name, owned(vx))
      const tx = await writeOne(x)
      if (tx === undefined || options.signal.aborted) continue
      const vy = pickVolume(vx.controller)
      const y = log.begin(vy.name, owned(vy), { volume: x.volume, block: x.block, writeId: x.id })
      await writeOne(y, tx)
    }
  }

  await Promise.all(Array.from({ length: options.writers }, (_, i) => writer(i)))
  return { log, acked, inDoubt, refused, errors }
}
