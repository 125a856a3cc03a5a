/**
 * The mover's supervisor, pure: what its control loop does next, and what a
 * failure means. The loop (mover/mover.ts) is the only place that cuts groups and
 * restarts the pipeline, so a restart never races a transaction; this class
 * holds its decisions and no I/O.
 *
 * - A restart is requested by a failed journal write, the reader giving up,
 *   retriable trouble in the intake or an operator's resume command; the
 *   first reason wins until the loop begins the restart. A request made
 *   while it restarts (by the new run, whose reader may deliver before its
 *   start returns) is kept for another restart after it, never dropped.
 * - A failed restart is tried again after a capped exponential backoff with
 *   full jitter (lib/backoff.ts), for as long as the outage lasts, unless its
 *   error is not retriable (a journal that does not decode, a topic that
 *   does not fit: trying again will not mend it), which halts.
 * - A failed journal write restarts the pipeline from the journal tail: at
 *   once the first time, after the backoff when writes keep failing; being
 *   fenced or a sizing bug halts; an abort because the mover is stopping
 *   ends the loop.
 * - The mover never gives up on an outage of Kafka or the registry by
 *   itself: the outage in progress (lib/outage.ts: which server, since when,
 *   attempts failed) is what status, /health (503 with the reason) and the
 *   metrics show; it ends when a restart succeeds or a group is journaled.
 *   Halts are for what an operator must decide.
 * - Once halted, the first halt error stays and the loop exits.
 */
import { Backoff } from '../../lib/backoff.js'
import { XrcError, isXrcError } from '../../lib/errors.js'
import {
  OutageWatch,
  RESTART_POLICY,
  failureVerdict,
  outageSource,
  type Outage,
  type RestartPolicy,
} from '../../lib/outage.js'

export { RESTART_POLICY, type RestartPolicy }
import { CutCadence } from './cutCadence.js'

/** What the control loop does next. */
export type ControlStep =
  /** Stopping or halted: leave the loop. */
  | { kind: 'exit' }
  /** Restart the pipeline (new producer, journal tail, former, intake, reader). */
  | { kind: 'restart'; reason: unknown }
  /** Wait up to waitMs (woken early by a full group, a stop, a halt or a restart request), then cut if mayCut(). */
  | { kind: 'cut'; waitMs: number }

/** An operator must decide: halt with this error. */
export interface HaltVerdict {
  kind: 'halt'
  error: XrcError
}

/** What a failed restart means: try again after delayMs (as long as the outage lasts), or halt. */
export type RestartFailedVerdict = { kind: 'retry'; delayMs: number; failures: number } | HaltVerdict

/**
 * What a failed journal write means: restart from the journal tail after
 * delayMs (0 the first time; the restart is requested), halt, or leave the
 * loop (the write was aborted because the mover is stopping).
 */
export type JournalFailedVerdict =
  { kind: 'restart'; failures: number; delayMs: number } | HaltVerdict | { kind: 'exit' }

export interface SupervisorOptions {
  groupIntervalMs: number
  groupMinIntervalMs: number
  groupMaxBytes: number
  policy?: RestartPolicy
  /** For tests: the backoff's jitter source, numbers in [0, 1). */
  random?: () => number
}

export class Supervisor {
  readonly cadence: CutCadence
  readonly policy: RestartPolicy
  /** The outage of Kafka or the registry being ridden out, if any. */
  readonly outage = new OutageWatch()
  readonly #backoff: Backoff
  #stopping = false
  #halt: XrcError | undefined
  #pending: { reason: unknown } | undefined
  /** The reason of the restart in progress, kept to ask again when it fails. */
  #restarting: { reason: unknown } | undefined
  #failures = 0

  constructor(options: SupervisorOptions) {
    this.policy = options.policy ?? RESTART_POLICY
    this.cadence = new CutCadence(options.groupIntervalMs, options.groupMaxBytes, options.groupMinIntervalMs)
    this.#backoff = new Backoff({
      initialMs: this.policy.initialDelayMs,
      maxMs: this.policy.maxDelayMs,
      jitter: 'full',
      ...(options.random ? { random: options.random } : {}),
    })
  }

  get stopping(): boolean {
    return this.#stopping
  }

  /** The error the mover halted with, if it did. */
  get halt(): XrcError | undefined {
    return this.#halt
  }

  get restartPending(): boolean {
    return this.#pending !== undefined
  }

  /** Failures in a row since the last journaled group. */
  get failures(): number {
    return this.#failures
  }

  stop(): void {
    this.#stopping = true
  }

  /** Records the halt; returns its error when this call halted, undefined when the mover had halted before. */
  haltWith(err: unknown): XrcError | undefined {
    if (this.#halt !== undefined) return undefined
    this.#halt = haltError(err)
    return this.#halt
  }

  /** Asks for a restart; false when one is already pending (the first reason wins). */
  requestRestart(reason: unknown): boolean {
    if (this.#pending !== undefined) return false
    this.#pending = { reason }
    return true
  }

  /** The next step of the loop at time `now`. */
  next(now: number, cuttableBytes: (limit: number) => number): ControlStep {
    if (this.#stopping || this.#halt !== undefined) return { kind: 'exit' }
    if (this.#pending !== undefined) return { kind: 'restart', reason: this.#pending.reason }
    return { kind: 'cut', waitMs: this.cadence.waitMs(now, cuttableBytes) }
  }

  /** After the wait of a cut step: whether nothing asked the loop to stop, halt or restart meanwhile. */
  mayCut(): boolean {
    return !this.#stopping && this.#halt === undefined && this.#pending === undefined
  }

  /** The loop begins the pending restart: requests made from now on are kept for after it. */
  beginRestart(): void {
    this.#restarting = this.#pending
    this.#pending = undefined
  }

  /** The pipeline restarted: the servers answer again; returns the outage that ended, if one was ridden out. */
  restarted(): Outage | undefined {
    this.#restarting = undefined
    return this.outage.recovered()
  }

  /** A restart failed with `err` at `now`: unless it halts, the restart stays requested. */
  restartFailed(err: unknown, now: number): RestartFailedVerdict {
    const reason = this.#restarting ?? { reason: err }
    this.#restarting = undefined
    if (failureVerdict(err) === 'halt') return { kind: 'halt', error: haltError(err) }
    this.#failures++
    this.outage.failed(outageSource(err, 'kafka'), err, now)
    this.#pending ??= reason
    return { kind: 'retry', delayMs: this.#backoff.next(), failures: this.#failures }
  }

  /** A group was journaled: the failures in a row, the backoff and any outage end. */
  journaled(): Outage | undefined {
    this.#failures = 0
    this.#backoff.reset()
    return this.outage.recovered()
  }

  /** Journaling a group failed with `err` at `now`. */
  journalFailed(err: unknown, now: number): JournalFailedVerdict {
    if (isXrcError(err, 'XRC_CLOSED')) return { kind: 'exit' }
    // fenced, or a sizing bug
    if (!isXrcError(err, 'XRC_JOURNAL_WRITE_FAILED')) return { kind: 'halt', error: haltError(err) }
    this.#failures++
    this.outage.failed('kafka', err, now)
    this.#pending = { reason: err }
    // the first failure restarts at once (a leader moved); writes that keep failing back off
    return { kind: 'restart', failures: this.#failures, delayMs: this.#failures > 1 ? this.#backoff.next() : 0 }
  }
}

/** The error a halt reports: an XrcError as it is, anything else as XRC_SESSION_HALTED. */
export function haltError(err: unknown): XrcError {
  return err instanceof XrcError
    ? err
    : new XrcError('XRC_SESSION_HALTED', { reason: 'unexpected', stage: 'mover', cause: err })
}
