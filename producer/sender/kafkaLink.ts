/**
 * The sender's view of Kafka: whether sends get through (connected,
 * unreachable since when, with which error, stopped or failed), and the
 * retry of a failing send with backoff and jitter until it succeeds or the
 * sender stops (`SendRetry.run`).
 *
 * A send is retried however long the outage lasts: the backlog lives in
 * the sidefiles, so memory stays bounded. The first failure of a streak
 * sets `unreachableSince` (status, metrics, the suspend trigger); the first
 * success after it clears it. XRC_CONFIG_INVALID (a setting Kafka refuses)
 * and Kafka's refusal of this client (XRC_KAFKA_AUTH_FAILED, _TLS_FAILED,
 * _NOT_AUTHORIZED) are never retried.
 */
import { Backoff } from '../../lib/backoff.js'
import { XrcError, errorMessage } from '../../lib/errors.js'
import { isKafkaAccessFailure } from '../../lib/kafka/index.js'
import type { Logger } from '../../lib/logger.js'

export type KafkaState = 'connecting' | 'connected' | 'unreachable' | 'stopped' | 'failed'

/** Thrown out of a retry when the sender stops: an abandoned send is never taken for an acknowledged one. */
export class Stopped extends Error {}

export interface KafkaLinkHooks {
  /** A failure streak began (Kafka or the registry out of reach) and ended: the suspend issue's trigger. */
  onUnreachable?: (since: number, err: unknown) => void
  onReachable?: (downMs: number) => void
}

/** Where the sender stands with Kafka. */
export class KafkaLink {
  state: KafkaState = 'connecting'
  unreachableSince: number | undefined
  lastError: string | undefined
  readonly #log: Logger
  readonly #hooks: KafkaLinkHooks

  constructor(log: Logger, hooks: KafkaLinkHooks) {
    this.#log = log
    this.#hooks = hooks
  }

  /** An attempt begun at `attemptStarted` failed. */
  failed(err: unknown, attemptStarted: number, controller?: number): void {
    if (this.unreachableSince === undefined) {
      // the outage began no later than the attempt that found it
      this.unreachableSince = attemptStarted
      this.#hooks.onUnreachable?.(this.unreachableSince, err)
    }
    const message = errorMessage(err)
    if (message !== this.lastError)
      this.#log.warn(
        { err, controller, since: new Date(this.unreachableSince).toISOString() },
        'Kafka unreachable; retrying',
      )
    this.lastError = message
    this.state = 'unreachable'
  }

  /** An attempt succeeded. */
  reachable(): void {
    if (this.unreachableSince !== undefined) {
      const downMs = Date.now() - this.unreachableSince
      this.#log.info({ downMs }, 'Kafka reachable again')
      this.#hooks.onReachable?.(downMs)
    }
    this.unreachableSince = undefined
    this.lastError = undefined
    this.state = 'connected'
  }

  /** The sender cannot go on. */
  fatal(err: unknown): void {
    this.state = 'failed'
    this.lastError = errorMessage(err)
  }
}

export interface SendRetryOptions {
  link: KafkaLink
  backoff: { initialMs: number; maxMs: number }
  /** Aborted when the sender stops. */
  signal: AbortSignal
  /** An attempt for these controllers failed (the send-error metric). */
  onSendError?: (controller: number, err: unknown) => void
}

/** Runs an attempt until it succeeds, backing off between failures (equal jitter). */
export class SendRetry {
  readonly #options: SendRetryOptions
  readonly #stopped: Promise<never>
  // ends every backoff sleep in progress
  #wake = new AbortController()

  constructor(options: SendRetryOptions) {
    this.#options = options
    this.#stopped = new Promise<never>((_resolve, reject) =>
      options.signal.addEventListener('abort', () => reject(new Stopped()), { once: true }),
    )
    this.#stopped.catch(() => undefined)
  }

  /** Runs `attempt` until it succeeds; throws Stopped when the sender stops, XRC_CONFIG_INVALID at once. */
  async run<T>(attempt: () => Promise<T>, controllers: readonly number[] = []): Promise<T> {
    const { link, signal } = this.#options
    const backoff = new Backoff({ ...this.#options.backoff, jitter: 'equal' })
    for (;;) {
      if (signal.aborted) throw new Stopped()
      const started = Date.now()
      try {
        const pending = attempt()
        // a stop does not wait for kafkajs to give up; the abandoned attempt's outcome is dropped
        pending.catch(() => undefined)
        const result = await Promise.race([pending, this.#stopped])
        link.reachable()
        return result
      } catch (err) {
        if (err instanceof Stopped) throw err
        // a setting Kafka refuses, or a login, certificate or ACL it refuses: waiting mends neither
        if (err instanceof XrcError && (err.code === 'XRC_CONFIG_INVALID' || isKafkaAccessFailure(err))) throw err
        for (const id of controllers) this.#options.onSendError?.(id, err)
        link.failed(err, started, controllers[0])
        const wake = this.#wake.signal
        await backoff.wait(AbortSignal.any([signal, wake])).catch(() => undefined)
        // Kafka answered again (retryNow): the next failure starts the backoff over
        if (wake.aborted) backoff.reset()
      }
    }
  }

  /** Ends the backoff of every failing attempt now: they are retried at once. */
  retryNow(): void {
    this.#wake.abort()
    this.#wake = new AbortController()
  }
}
