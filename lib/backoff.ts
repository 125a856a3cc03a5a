/**
 * Capped exponential backoff with jitter: the one mechanism every retry
 * loop of xrc uses (lib/retry.ts for bounded attempts; the sender, the
 * mirror's resync end and the stages' restarts for loops that run as long
 * as the outage lasts, stopped only by their AbortSignal).
 *
 *   const backoff = new Backoff({ initialMs: 100, maxMs: 5000 })
 *   for (;;) {
 *     try { await send(); backoff.reset(); break }
 *     catch (err) { await backoff.wait(signal) }   // 50-100 ms, 100-200 ms, ... capped at maxMs
 *   }
 *
 * Jitter: 'full' draws from [0, delay] (AWS's "full jitter", for many
 * clients hitting one server), 'equal' from [delay/2, delay] (a floor, for a
 * loop that must not spin).
 */
import { sleep } from './sleep.js'

export interface BackoffOptions {
  /** First delay, ms; doubled after each wait up to maxMs. */
  initialMs: number
  maxMs: number
  /** Default 'equal'. */
  jitter?: 'full' | 'equal'
  /** For tests: a source of numbers in [0, 1). Default Math.random. */
  random?: () => number
}

export class Backoff {
  readonly #options: Required<BackoffOptions>
  #delay: number
  /** Waits since the last reset. */
  attempts = 0

  constructor(options: BackoffOptions) {
    if (!(options.initialMs > 0) || !(options.maxMs >= options.initialMs))
      throw new RangeError(`backoff needs 0 < initialMs <= maxMs (got ${options.initialMs}, ${options.maxMs})`)
    this.#options = { jitter: 'equal', random: Math.random, ...options }
    this.#delay = options.initialMs
  }

  /** The next delay (ms), jittered; advances the backoff. */
  next(): number {
    const d = this.#delay
    this.#delay = Math.min(d * 2, this.#options.maxMs)
    this.attempts++
    const r = this.#options.random()
    return Math.round(this.#options.jitter === 'full' ? r * d : d / 2 + (r * d) / 2)
  }

  /** Sleeps the next delay; rejects with the signal's reason when it aborts. */
  async wait(signal?: AbortSignal): Promise<number> {
    const ms = this.next()
    await sleep(ms, signal)
    return ms
  }

  /** Back to the first delay (after a success, or when the other side is known to answer again). */
  reset(): void {
    this.#delay = this.#options.initialMs
    this.attempts = 0
  }
}
