/**
 * Outages of the servers a service depends on (Kafka, the schema registry,
 * PostgreSQL), pure: what a failure means (ride it out, or halt for an
 * operator), which server it is the outage of, and the outage in progress as
 * status, /health and the metrics show it. The mover and the applier retry
 * an outage for as long as it lasts, with capped backoff (lib/backoff.ts);
 * only what no retry mends halts (an out-of-order group, an undecodable
 * record, being fenced: XrcErrors whose code is not retriable, Kafka
 * refusing this client, and programmer errors).
 */
import { errorMessage, isXrcError, type ErrorCode } from './errors.js'
import { isKafkaAccessFailure } from './kafka/accessErrors.js'
import { defaultIsRetriable } from './retry.js'

/** The server an outage is of ('other': retriable, but not one of the three). */
export type OutageSource = 'kafka' | 'registry' | 'postgres' | 'other'

export const OUTAGE_SOURCES: readonly OutageSource[] = ['kafka', 'registry', 'postgres', 'other']

const SOURCE_OF_CODE: Partial<Record<ErrorCode, OutageSource>> = {
  XRC_KAFKA_UNREACHABLE: 'kafka',
  XRC_JOURNAL_WRITE_FAILED: 'kafka',
  XRC_REGISTRY_UNREACHABLE: 'registry',
  XRC_POSTGRES_UNREACHABLE: 'postgres',
  XRC_COMMIT_UNKNOWN: 'postgres',
}

export interface RestartPolicy {
  /** Backoff between failed restarts: first delay (ms), doubled up to maxDelayMs, full jitter. */
  readonly initialDelayMs: number
  readonly maxDelayMs: number
}

/**
 * The backoff between restarts of a stage riding out an outage (the mover's pipeline, the applier's readers; no
 * bound on the attempts): the one place it is set.
 */
export const RESTART_POLICY: RestartPolicy = Object.freeze({
  initialDelayMs: 250,
  maxDelayMs: 8000,
})

/**
 * What a failure means: ride out an outage (retry with backoff, as long as
 * it lasts) or halt. Kafka refusing this client (a login, a certificate, an
 * ACL) halts though kafkajs may call it retriable: it lasts until an
 * operator changes a setting or a grant.
 */
export function failureVerdict(err: unknown): 'retry' | 'halt' {
  if (isKafkaAccessFailure(err)) return 'halt'
  return defaultIsRetriable(err) ? 'retry' : 'halt'
}

/**
 * The server `err` is the outage of: an XrcError's code names it (through
 * its causes), a kafkajs error or a client error of the seam
 * (lib/kafka/client, KafkaClientError) is Kafka's; else `fallback` (the caller knows
 * whom it asked: the applier's store asks PostgreSQL).
 */
export function outageSource(err: unknown, fallback: OutageSource = 'other'): OutageSource {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    if (isXrcError(e)) {
      const source = SOURCE_OF_CODE[e.code]
      if (source !== undefined) return source
    } else if (e instanceof Error && (e.name.startsWith('KafkaJS') || e.name === 'KafkaClientError')) return 'kafka'
    e = e instanceof Error ? e.cause : undefined
  }
  return fallback
}

/** The outage in progress: since when (ms since the epoch), failed attempts so far, the last error. */
export interface Outage {
  readonly source: OutageSource
  readonly since: number
  readonly retries: number
  readonly lastError: string
}

/** Outages as they begin, go on and end; no I/O, the time is passed in. */
export class OutageWatch {
  #current: Outage | undefined

  get current(): Outage | undefined {
    return this.#current
  }

  /** A retriable failure at `now`: begins the outage of `source`, or counts one more retry of it. */
  failed(source: OutageSource, err: unknown, now: number): Outage {
    const ongoing = this.#current
    this.#current = {
      source,
      since: ongoing?.since ?? now,
      retries: (ongoing?.retries ?? 0) + 1,
      lastError: errorMessage(err),
    }
    return this.#current
  }

  /** The server answered again: the outage that ended, if one was in progress. */
  recovered(): Outage | undefined {
    const ended = this.#current
    this.#current = undefined
    return ended
  }
}

/** The outage as /health says it (the reason of a 503). */
export function outageReason(outage: Outage, now: number): string {
  const seconds = Math.max(0, Math.round((now - outage.since) / 1000))
  const server = { kafka: 'Kafka', registry: 'the schema registry', postgres: 'PostgreSQL', other: 'a server' }[
    outage.source
  ]
  return (
    `${server} unavailable for ${seconds} s (${outage.retries} attempts failed; retrying as long as it lasts): ` +
    outage.lastError
  )
}

/** The outage as status() shows it. */
export interface OutageStatus {
  source: OutageSource
  since: string
  retries: number
  reason: string
}

export function outageStatus(outage: Outage | undefined, now: number): OutageStatus | undefined {
  if (outage === undefined) return undefined
  const { source, since, retries } = outage
  return { source, since: new Date(since).toISOString(), retries, reason: outageReason(outage, now) }
}
