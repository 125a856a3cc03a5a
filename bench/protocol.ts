/**
 * Messages between the bench (parent) and its stage processes (children
 * forked with Node's IPC channel and the structured-clone serialization, so
 * typed arrays travel as they are). Each stage runs one pipeline service in
 * a process of its own, so its CPU time and peak RSS are its own.
 *
 *   parent -> child  { kind: 'request', id, body }   answered by { kind: 'reply', id, ok, value | error }
 *   parent -> child  { kind: 'committed', groupTime } (primary: the secondary holds everything up to this time)
 *   child -> parent  { kind: 'ready', pid }           once the service has started
 *   child -> parent  { kind: 'group', ... }           (applier: a group committed)
 *   child -> parent  { kind: 'journaled', ... }       (mover: a group's journal transaction committed)
 *   child -> parent  { kind: 'ended', error }          the service ended by itself (halted): a harness failure
 */
import type { Config } from '../lib/config.js'

/** The pipeline stage a child process runs. */
export type StageName = 'primary' | 'mover' | 'applier'

/** How a load phase chooses and paces its writes. */
export type LoadSpec =
  | {
      /** Open loop: `rate` writes/s for `durationMs`, each measured from when it was due. */
      mode: 'open'
      rate: number
      durationMs: number
      /** Writes outstanding at most; past it, due writes wait (and their delay counts). */
      maxInFlight: number
    }
  | {
      /**
       * Closed loop: `concurrency` writers, each issuing its next write when
       * the last is acknowledged, for `durationMs` or `count` writes (the
       * first reached). With `window`, a writer also waits while more than
       * `window` acknowledged-or-pending writes are not yet committed on the
       * secondary, so the backlog stays bounded and the rate is one the
       * pipeline sustains.
       */
      mode: 'closed'
      concurrency: number
      durationMs?: number
      count?: number
      window?: number
    }

/** What a load phase did, write by write (index = write number). */
export interface LoadResult {
  /** Due time (open loop) or issue time (closed loop), epoch ms. */
  due: Float64Array
  /** Acknowledgement time, epoch ms; NaN for a write that failed. */
  ack: Float64Array
  /**
   * Session-clock time of the acknowledged write, µs; NaN for a failed write (and for the baseline, which has no
   * clock).
   */
  time: Float64Array
  errors: number
  /** The first error, for the report. */
  firstError?: string
  startedMs: number
  endedMs: number
  /** Event-loop delay of the stage during the load, ms (a stalled loop delays every write's acknowledgement). */
  loopDelay?: { p50: number; p99: number; max: number }
}

/** Blocks `first` .. `first + count - 1` of a volume. */
export interface BlockRange {
  volume: string
  first: number
  count: number
}

/** What a writeRanges request did. */
export interface RangesWritten {
  writes: number
  bytes: number
  /** Session time of the latest write, µs (wait for the secondary to commit it). */
  lastTime: number
  startedMs: number
  endedMs: number
}

/** Requests a stage answers (each stage takes only its own; see stageProcess.ts). */
export type StageRequest =
  | { op: 'load'; spec: LoadSpec; seed: number }
  /** The same writes to plain files (pwrite + fdatasync), no mirroring. */
  | { op: 'baseline'; spec: LoadSpec; seed: number }
  /**
   * Primary: these block ranges written in order through the primary, `blocksPerWrite` blocks per write (random
   * data), `concurrency` writes at a time: fills a volume, or changes chosen segments (the failover bench).
   */
  | { op: 'writeRanges'; ranges: BlockRange[]; blocksPerWrite: number; concurrency: number }
  /** Primary: its HTTP API on a free loopback port (started on first ask), as `xrc verify` and failback reach it. */
  | { op: 'api' }
  /** Mover: the last journaled group. */
  | { op: 'status' }
  | { op: 'stop' }

/** Messages from the bench to a stage. */
export type ParentMessage =
  | { kind: 'start'; stage: StageName; config: Config }
  | { kind: 'request'; id: number; body: StageRequest }
  | { kind: 'committed'; groupTime: number }

/** A group the applier committed. */
export interface GroupCommit {
  groupSeq: number
  groupTime: number
  /** Epoch ms when the transaction had committed. */
  commitMs: number
  updates: number
}

/**
 * A group the mover journaled: its transaction's parts were sent at `sentMs` and its commit returned at `commitMs`
 * (epoch ms).
 */
export interface GroupJournaled {
  groupSeq: number
  groupTime: number
  sentMs: number
  commitMs: number
  updates: number
}

/** Messages from a stage to the bench. */
export type ChildMessage =
  | { kind: 'ready'; pid: number }
  | ({ kind: 'journaled' } & GroupJournaled)
  | { kind: 'reply'; id: number; ok: true; value: unknown }
  | { kind: 'reply'; id: number; ok: false; error: string }
  | ({ kind: 'group' } & GroupCommit)
  | { kind: 'ended'; error: string }

/** Wall-clock time in epoch ms with sub-ms resolution, comparable across the bench's processes. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now()
}
