import { Backoff } from './backoff.js'
import { XrcError } from './errors.js'
import { sleep } from './sleep.js'

export { sleep } from './sleep.js'

export interface RetryOptions {
  /** Attempts in all, including the first. */
  attempts: number
  /** First delay, doubled each time up to `maxDelayMs`; full jitter. */
  initialDelayMs: number
  maxDelayMs: number
  /** Decides whether an error is worth another attempt. Default: XrcError.retriable, or any non-XrcError. */
  isRetriable?: (err: unknown) => boolean
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void
  signal?: AbortSignal
}

/** Default retriability: an XrcError says so itself; a foreign error (network) is retried. */
export function defaultIsRetriable(err: unknown): boolean {
  if (err instanceof XrcError) return err.retriable
  return !(err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError)
}

/**
 * Runs `fn` until it succeeds, retrying only retriable errors with
 * exponential backoff and full jitter. Never retries forever: after
 * `attempts` the last error is thrown.
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const isRetriable = options.isRetriable ?? defaultIsRetriable
  const backoff = new Backoff({ initialMs: options.initialDelayMs, maxMs: options.maxDelayMs, jitter: 'full' })
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt)
    } catch (err) {
      if (attempt >= options.attempts || !isRetriable(err) || options.signal?.aborted) throw err
      const wait = backoff.next()
      options.onRetry?.(err, attempt, wait)
      await sleep(wait, options.signal)
    }
  }
}

/**
 * Polls `probe` until it returns a value other than undefined, or throws
 * XRC_TIMEOUT naming `what` and the last error seen. This is how tests and
 * start-up wait for a condition instead of sleeping a fixed time.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  options: {
    timeoutMs: number
    intervalMs?: number
    signal?: AbortSignal
    /** Checked before each probe: a reason to give up at once (say, the process died). */
    abortIf?: () => string | undefined
  },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs
  let lastError: unknown
  for (;;) {
    const reason = options.abortIf?.()
    if (reason !== undefined)
      throw new XrcError('XRC_TIMEOUT', { reason: 'gaveUp', what, why: reason }, { cause: lastError })
    try {
      const v = await probe()
      if (v !== undefined) return v
    } catch (err) {
      lastError = err
    }
    if (Date.now() >= deadline) {
      const { timeoutMs } = options
      throw lastError === undefined
        ? new XrcError('XRC_TIMEOUT', { timeoutMs, what })
        : new XrcError('XRC_TIMEOUT', { reason: 'lastError', timeoutMs, what, cause: lastError })
    }
    await sleep(options.intervalMs ?? 100, options.signal)
  }
}
