/**
 * The applier's lifecycle as a small state machine with no I/O: which state
 * it is in, why it stopped or halted, and how it ended (lib/stage.ts). The
 * service (applier.ts) drives it and does the I/O each transition asks for.
 *
 *   new -> starting -> running -> stopping -> stopped
 *               \          \          \
 *                +----------+----------+--> halted (terminal: the first halt's error is kept)
 *
 * stop() before or during start() goes to stopping as well; reaching the
 * stop time is a stop with reason 'stop-time' (the stage ends 'finished').
 */
import { XrcError, errorMessage, type ErrorCode } from '../../lib/errors.js'
import type { HealthReport } from '../../lib/metrics.js'
import { STOPPED, endOf, type StageEnd } from '../../lib/stage.js'

export type ApplierState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped' | 'halted'

/** Why a stopped applier stopped: stop() was called, or it reached the stop time. */
export type StopReason = 'requested' | 'stop-time'

const HEALTH: Record<ApplierState, HealthReport['status']> = {
  new: 'starting',
  starting: 'starting',
  running: 'ok',
  stopping: 'degraded',
  stopped: 'degraded',
  halted: 'halted',
}

export class ApplierLifecycle {
  #state: ApplierState = 'new'
  #stopReason: StopReason | undefined
  #halt: { error: unknown } | undefined

  get state(): ApplierState {
    return this.#state
  }

  get stopReason(): StopReason | undefined {
    return this.#stopReason
  }

  /** Whether the applier halted (its error in haltError). */
  get halted(): boolean {
    return this.#halt !== undefined
  }

  get haltError(): unknown {
    return this.#halt?.error
  }

  /** new -> starting; XRC_USAGE on a second start(). */
  begin(): void {
    if (this.#state !== 'new')
      throw new XrcError('XRC_USAGE', { reason: 'startedTwice', component: 'applier', state: this.#state })
    this.#state = 'starting'
  }

  /** starting -> running; false when stop() or a halt came first (the caller then follows nothing). */
  run(): boolean {
    if (this.#state !== 'starting') return false
    this.#state = 'running'
    return true
  }

  /** stop() called: a stage not yet ending goes to stopping, reason 'requested' unless it had one. */
  requestStop(): void {
    if (this.#state !== 'new' && this.#state !== 'starting' && this.#state !== 'running') return
    this.#stopReason ??= 'requested'
    this.#state = 'stopping'
  }

  /**
   * The stop time was reached (also while a requested stop is under way:
   * then it finished). Nothing changes once the stage ended.
   */
  reachStopTime(): void {
    if (this.#state === 'halted' || this.#state === 'stopped') return
    this.#stopReason = 'stop-time'
    this.#state = 'stopping'
  }

  /** Halts with `err`; false when already halted (the first halt is the one reported). */
  halt(err: unknown): boolean {
    if (this.#state === 'halted') return false
    this.#halt = { error: err }
    this.#state = 'halted'
    return true
  }

  /** Teardown finished: a stopping stage is stopped; a halted one stays halted. */
  ended(): void {
    if (this.#state === 'stopping') this.#state = 'stopped'
  }

  /** How the stage ended: the halt's error, else stopped ('finished' at the stop time). */
  end(): StageEnd {
    if (this.#halt !== undefined) return endOf(this.#halt.error)
    return this.#stopReason === 'stop-time' ? { outcome: 'stopped', reason: 'finished' } : STOPPED
  }

  /** The halt as status() shows it. */
  haltStatus(): { code: ErrorCode | undefined; message: string } | undefined {
    if (this.#halt === undefined) return undefined
    const { error } = this.#halt
    return { code: error instanceof XrcError ? error.code : undefined, message: errorMessage(error) }
  }

  health(): HealthReport['status'] {
    return HEALTH[this.#state]
  }
}
