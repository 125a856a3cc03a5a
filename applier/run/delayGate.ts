/**
 * The delayed secondary's gate (applier.delayMs) around the rule of
 * delayRule.ts: the run loop asks it before each batch whether the head
 * group is old enough, and it waits until it is.
 *
 * - No busy loop: it sleeps until the head's time comes, waking only to
 *   keep the journal reader's place with the broker (`keepAlive` at most
 *   every KEEP_ALIVE_MS) and at once on stop.
 * - Bounded memory: the groups waiting are the journal batch in hand; the
 *   journal feed fetches no more until the loop returns, and the updates
 *   reader prefetches within applier.readAheadBytes. The rest of the
 *   backlog waits in Kafka.
 * - What it holds is reported (held()): the delay, the groups waiting, the
 *   age of the oldest.
 */
import type { Logger } from '../../lib/logger.js'
import { sleep } from '../../lib/sleep.js'
import { delayHeld, delayStep, releasedUpTo, type DelayHeld } from './delayRule.js'

/** Longest sleep between two keep-alives of the journal reader (its session timeout is 30 s). */
export const KEEP_ALIVE_MS = 5000

export class DelayGate {
  readonly delayMs: number
  readonly #log: Logger
  readonly #now: () => number
  readonly #keepAliveMs: number
  #waiting: { oldestTime: number; groups: number } | undefined

  constructor(options: { delayMs: number; logger: Logger; now?: () => number; keepAliveMs?: number }) {
    this.delayMs = options.delayMs
    this.#log = options.logger
    this.#now = options.now ?? Date.now
    this.#keepAliveMs = options.keepAliveMs ?? KEEP_ALIVE_MS
  }

  /**
   * Waits until the group of time `headTime` (µs), heading `groups` groups in
   * hand, may be applied: true then; false when `signal` aborts first.
   * `keepAlive` failing is not the gate's concern (the reader reports its own
   * failures); it is tried again at the next wake.
   */
  async hold(headTime: number, groups: number, signal: AbortSignal, keepAlive: () => Promise<void>): Promise<boolean> {
    for (;;) {
      const step = delayStep(headTime, this.delayMs, this.#now())
      if (step.do === 'apply') {
        this.#waiting = undefined
        return true
      }
      this.#waiting = { oldestTime: headTime, groups }
      // a ms past the due time: Node's timers may fire a ms early by Date.now() (a second, 1 ms sleep otherwise)
      const slept = await sleep(Math.min(step.ms + 1, this.#keepAliveMs), signal).then(
        () => true,
        () => false,
      )
      if (!slept) return false
      await keepAlive().catch((err: unknown) => this.#log.debug({ err }, 'the journal reader heartbeat failed'))
    }
  }

  /** The newest group time (µs) the delay lets apply now (a batch bound); undefined without a delay. */
  bound(): number | undefined {
    return releasedUpTo(this.delayMs, this.#now())
  }

  /** What is held now. */
  held(): DelayHeld {
    return delayHeld(this.delayMs, this.#waiting, this.#now())
  }
}
