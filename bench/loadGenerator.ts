/**
 * Drives writes at a primary (or at plain files, for the baseline) and
 * records, write by write, when each was due, when it was acknowledged and
 * the session-clock time it got. Runs inside the primary's stage process, so
 * a write is a function call, not a network round trip.
 *
 * Writes: write i goes to controller i mod n (all controllers equally busy),
 * to a random volume of it and a random block (seeded, so runs repeat), one
 * 4 KiB block each; the data is a random block from a pool with the write
 * number stamped in, so no two writes are alike and no compression flatters.
 */
import { randomBytes } from 'node:crypto'
import { XrcError, errorMessage } from '../lib/errors.js'
import { nowMs, type LoadResult, type LoadSpec } from './protocol.js'
import { openLoopSchedule } from './schedule.js'

/** Where write i goes. */
export interface WriteTarget {
  volume: string
  block: number
}

/** Chooses targets and makes block data. */
export interface Workload {
  target(i: number): WriteTarget
  data(i: number): Buffer
}

/** A seeded workload over a session's controllers and volumes. */
export function createWorkload(options: {
  controllers: readonly { volumes: readonly { name: string; blocks: number }[] }[]
  blockSize: number
  seed: number
}): Workload {
  const { controllers, blockSize } = options
  let x = options.seed >>> 0 || 0x9e3779b9
  const next = (): number => {
    // xorshift32: fast, seeded, and good enough to spread blocks
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 0x1_0000_0000
  }
  const pool = Array.from({ length: 64 }, () => randomBytes(blockSize))
  return {
    target(i) {
      const c = controllers[i % controllers.length] as (typeof controllers)[number]
      const v = c.volumes[Math.floor(next() * c.volumes.length)] as (typeof c.volumes)[number]
      return { volume: v.name, block: Math.floor(next() * v.blocks) }
    },
    data(i) {
      // a fresh buffer per write: the primary keeps it until the volume write is done
      const buf = Buffer.allocUnsafe(blockSize)
      ;(pool[i % pool.length] as Buffer).copy(buf)
      buf.writeUInt32LE(i >>> 0, 0)
      return buf
    },
  }
}

/** One write: resolves with its session-clock time (µs), or NaN where there is none (the baseline). */
export type WriteFn = (i: number) => Promise<number>

/** The secondary's progress, fed by the parent while a windowed closed loop runs. */
export interface CommitFeed {
  /** Latest consistency time committed on the secondary, µs. */
  committedTime(): number
  /** Calls `listener` whenever it moves; returns the unsubscribe function. */
  onCommitted(listener: () => void): () => void
}

/** Runs a load phase; resolves when every write issued has settled. */
export async function runLoad(spec: LoadSpec, write: WriteFn, feed?: CommitFeed): Promise<LoadResult> {
  return spec.mode === 'open' ? runOpenLoop(spec, write) : runClosedLoop(spec, write, feed)
}

function newResult(count: number): LoadResult {
  return {
    due: new Float64Array(count).fill(Number.NaN),
    ack: new Float64Array(count).fill(Number.NaN),
    time: new Float64Array(count).fill(Number.NaN),
    errors: 0,
    startedMs: nowMs(),
    endedMs: Number.NaN,
  }
}

function settle(result: LoadResult, i: number, p: Promise<number>, after: () => void): void {
  p.then(
    (time) => {
      result.ack[i] = nowMs()
      result.time[i] = time
    },
    (err: unknown) => {
      result.errors++
      result.firstError ??= errorMessage(err)
    },
  ).finally(after)
}

function runOpenLoop(spec: Extract<LoadSpec, { mode: 'open' }>, write: WriteFn): Promise<LoadResult> {
  // a few ms ahead, so the first writes are not already late when the loop starts
  const schedule = openLoopSchedule({ startMs: nowMs() + 5, rate: spec.rate, durationMs: spec.durationMs })
  const result = newResult(schedule.count)
  result.startedMs = schedule.startMs
  let issued = 0
  let inFlight = 0
  let timer: NodeJS.Timeout | undefined
  return new Promise<LoadResult>((resolve) => {
    const finishIfDone = (): void => {
      if (issued === schedule.count && inFlight === 0) {
        result.endedMs = nowMs()
        resolve(result)
      }
    }
    const pump = (): void => {
      timer = undefined
      const due = schedule.dueBy(nowMs())
      while (issued < due && inFlight < spec.maxInFlight) {
        const i = issued++
        // the due time, not the issue time: a write held back by a stall is measured from when it should have gone
        result.due[i] = schedule.dueAt(i)
        inFlight++
        settle(result, i, write(i), () => {
          inFlight--
          if (issued < schedule.count && timer === undefined) pump()
          finishIfDone()
        })
      }
      if (issued < schedule.count && inFlight < spec.maxInFlight) {
        timer = setTimeout(pump, Math.max(0, schedule.dueAt(issued) - nowMs()))
      }
    }
    pump()
  })
}

/**
 * A Float64Array that grows by doubling: a closed loop does not know its write count ahead, and a fixed cap would
 * inflate the stage's RSS.
 */
class Column {
  data = new Float64Array(4096).fill(Number.NaN)
  set(i: number, v: number): void {
    if (i >= this.data.length) {
      const bigger = new Float64Array(this.data.length * 2).fill(Number.NaN)
      bigger.set(this.data)
      this.data = bigger
    }
    this.data[i] = v
  }
  take(n: number): Float64Array {
    const out = new Float64Array(n).fill(Number.NaN)
    out.set(this.data.subarray(0, Math.min(n, this.data.length)))
    return out
  }
}

function runClosedLoop(
  spec: Extract<LoadSpec, { mode: 'closed' }>,
  write: WriteFn,
  feed: CommitFeed | undefined,
): Promise<LoadResult> {
  if (spec.durationMs === undefined && spec.count === undefined)
    throw new XrcError('XRC_USAGE', { reason: 'loadUnbounded' })
  if (spec.window !== undefined && feed === undefined) throw new XrcError('XRC_USAGE', { reason: 'windowWithoutFeed' })
  const startedMs = nowMs()
  const endAt = spec.durationMs === undefined ? Number.POSITIVE_INFINITY : startedMs + spec.durationMs
  const limit = spec.count ?? Number.POSITIVE_INFINITY
  const due = new Column()
  const ack = new Column()
  const time = new Column()
  let errors = 0
  let firstError: string | undefined
  let issued = 0
  // acknowledged session times not yet known committed, in ack order (times increase along it, near enough)
  const unconfirmed: number[] = []
  let head = 0
  let confirmed = 0
  let failed = 0
  const waiting: (() => void)[] = []
  // writes the pipeline still holds: issued, not failed, not yet covered by a committed group
  const outstanding = (): number => issued - confirmed - failed
  const wakeAll = (): void => {
    for (const w of waiting.splice(0)) w()
  }
  const release = (): void => {
    const t = feed?.committedTime() ?? Number.NEGATIVE_INFINITY
    while (head < unconfirmed.length && (unconfirmed[head] as number) <= t) {
      head++
      confirmed++
    }
    if (head > 65536) {
      unconfirmed.splice(0, head)
      head = 0
    }
    wakeAll()
  }
  const unsubscribe = feed?.onCommitted(release) ?? (() => undefined)
  const ended = (): boolean => issued >= limit || nowMs() >= endAt

  const worker = async (): Promise<void> => {
    for (;;) {
      if (spec.window !== undefined) {
        while (!ended() && outstanding() >= spec.window) await new Promise<void>((resolve) => waiting.push(resolve))
      }
      if (ended()) return
      const i = issued++
      due.set(i, nowMs())
      try {
        const t = await write(i)
        ack.set(i, nowMs())
        time.set(i, t)
        unconfirmed.push(t)
      } catch (err) {
        errors++
        failed++
        firstError ??= errorMessage(err)
      }
      release()
    }
  }
  // a writer parked on the window must also wake when the phase ends
  const endTimer = Number.isFinite(endAt) ? setTimeout(wakeAll, Math.max(0, endAt - nowMs())) : undefined
  return Promise.all(Array.from({ length: spec.concurrency }, worker)).then(() => {
    clearTimeout(endTimer)
    unsubscribe()
    return {
      due: due.take(issued),
      ack: ack.take(issued),
      time: time.take(issued),
      errors,
      ...(firstError !== undefined ? { firstError } : {}),
      startedMs,
      endedMs: nowMs(),
    }
  })
}
