/**
 * Decoding a record whose schema the registry must be asked for: an outage
 * of the registry (XRC_REGISTRY_UNREACHABLE) is ridden out with the capped
 * backoff for as long as it lasts, each failed attempt reported to
 * `onRetry` (the applier's outage: status, /health, metrics); a record that
 * does not decode fails at once. `signal` (the reader stopping) ends the wait.
 */
import { isXrcError } from '../../lib/errors.js'
import { retry } from '../../lib/retry.js'

/** The registry's backoff while it is out of reach: 200 ms doubling to 5 s. */
export const REGISTRY_RETRY = { initialDelayMs: 200, maxDelayMs: 5000 } as const

export function decodeRidingOutages<T>(
  decode: () => Promise<T>,
  options: { signal?: AbortSignal; onRetry?: (err: unknown) => void },
): Promise<T> {
  return retry(decode, {
    ...REGISTRY_RETRY,
    attempts: Number.POSITIVE_INFINITY,
    isRetriable: (err) => isXrcError(err, 'XRC_REGISTRY_UNREACHABLE'),
    ...(options.signal ? { signal: options.signal } : {}),
    onRetry: (err) => options.onRetry?.(err),
  })
}
