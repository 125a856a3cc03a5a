/**
 * The lifecycle every pipeline stage shares (the primary, the mover, the
 * applier), in the manner of Redpanda Connect's component lifecycle: one
 * shape, so the CLI services, the demo, the bench and the contract suite
 * (test/contract/) drive any stage the same way.
 *
 * - start() opens what the stage needs and begins its work in the
 *   background; it rejects when the stage cannot start, and `done` then
 *   resolves with the same error.
 * - stop() ends the work: what is in progress is committed or aborted
 *   (each stage documents which), never left half done. It is idempotent,
 *   safe before start(), during start() and after the stage ended by
 *   itself, and it resolves within the stage's `stopBoundMs` even when the
 *   stage's servers are out of reach.
 * - done resolves exactly once, never rejects, with how the stage ended.
 *   After a halt or a failure the stage may still hold clients and
 *   sockets: call stop() to release them.
 */
import { XrcError, errorMessage, isXrcError, type ErrorCode } from './errors.js'
import type { HealthReport } from './metrics.js'

export type StageName = 'primary' | 'mover' | 'applier'

/**
 * How a stage ended.
 * - stopped: stop() was called ('requested'), or the stage reached the end
 *   it was asked for ('finished': an applier's stop time).
 * - halted: the stage met a condition it names with a code and cannot get
 *   past by itself; an operator must decide (XRC_GROUP_OUT_OF_ORDER,
 *   XRC_FENCED, XRC_SEQUENCE_GAP...). Nothing was skipped.
 * - failed: an error the stage did not expect (a bug, a library's own error).
 */
export type StageEnd =
  | { readonly outcome: 'stopped'; readonly reason: 'requested' | 'finished' }
  | { readonly outcome: 'halted'; readonly code: ErrorCode; readonly error: XrcError }
  | { readonly outcome: 'failed'; readonly error: Error }

/** A pipeline stage (see the top of this file for the contract). */
export interface Stage<Status = unknown> {
  readonly name: StageName
  /** Longest stop() takes, ms, servers reachable or not (the stage's own bound; the process's is runService's). */
  readonly stopBoundMs: number
  readonly done: Promise<StageEnd>
  start(): Promise<void>
  stop(): Promise<void>
  status(): Status
  /** For /health: 'halted' answers 503. */
  health(): HealthReport
}

/** A stage that ended when asked to. */
export const STOPPED: StageEnd = Object.freeze({ outcome: 'stopped', reason: 'requested' })

/**
 * The end an error means: an XrcError names a condition (halted, with its code); anything else is
 * unexpected (failed).
 */
export function endOf(err: unknown): StageEnd {
  if (isXrcError(err)) return { outcome: 'halted', code: err.code, error: err }
  return { outcome: 'failed', error: err instanceof Error ? err : new Error(String(err)) }
}

/** The once-only `done` of a stage: the first end reported wins, later ones are ignored. */
export interface StageEnding {
  readonly done: Promise<StageEnd>
  /** Reports the end; returns false when an end was already reported. */
  end(end: StageEnd): boolean
  /** The end reported so far. */
  ended(): StageEnd | undefined
}

export function createStageEnding(): StageEnding {
  let reported: StageEnd | undefined
  let resolve!: (end: StageEnd) => void
  const done = new Promise<StageEnd>((r) => (resolve = r))
  return {
    done,
    end(end) {
      if (reported !== undefined) return false
      reported = end
      resolve(end)
      return true
    },
    ended: () => reported,
  }
}

/** What a stage's end means to a process: its exit code, how loud, and one line that names the code. */
export interface EndReport {
  exitCode: 0 | 1
  level: 'info' | 'error'
  message: string
}

/** The one mapping from a stage's end to an exit code and a log line (services, demo, bench). */
export function reportEnd(name: string, end: StageEnd): EndReport {
  switch (end.outcome) {
    case 'stopped':
      return {
        exitCode: 0,
        level: 'info',
        message: end.reason === 'finished' ? `${name}: finished` : `${name}: stopped`,
      }
    case 'halted':
      return { exitCode: 1, level: 'error', message: `${name} halted: ${end.error.message} [${end.code}]` }
    case 'failed':
      return { exitCode: 1, level: 'error', message: `${name} failed: ${errorMessage(end.error)} [unexpected]` }
  }
}

/** The end as an error to throw (a stage that ended by itself while its caller still needed it). */
export function endError(name: string, end: StageEnd): XrcError {
  const { message } = reportEnd(name, end)
  return new XrcError('XRC_SESSION_HALTED', message, {
    ...(end.outcome === 'stopped' ? {} : { cause: end.error }),
  })
}

/** Stages that run together (the demo's pipeline): the first to end by itself, as an error. */
export interface StageWatch {
  /** Throws XRC_SESSION_HALTED naming the first stage that halted or failed (its code in the message). */
  check(): void
}

export function watchStages(stages: readonly Stage[]): StageWatch {
  let first: XrcError | undefined
  for (const stage of stages) {
    void stage.done.then((end) => {
      if (end.outcome !== 'stopped') first ??= endError(stage.name, end)
    })
  }
  return {
    check() {
      if (first !== undefined) throw first
    },
  }
}

/**
 * Whether `work` settled (resolved or rejected) within `ms`; it goes on either way. How a stop() keeps its
 * bound when a server answers nothing: it waits so long for a step, then leaves it to finish by itself.
 */
export async function settleWithin(work: Promise<unknown> | undefined, ms: number): Promise<boolean> {
  if (work === undefined) return true
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)))
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      timedOut,
    ])
  } finally {
    clearTimeout(timer)
  }
}
