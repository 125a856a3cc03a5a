/**
 * A deadline for one call of the Kafka client, as the Java client bounds a
 * transactional call by max.block.ms (KAFKA-7763: commitTransaction waited
 * forever on dead brokers). kafkajs bounds each request by requestTimeout,
 * but a call made of several requests and retries can stay pending for good
 * when the broker it talks to dies at the wrong moment: seen in the
 * three-node soak, where a mover's transaction call to a SIGKILLed leader
 * never settled and the session journaled nothing more. Past the deadline
 * the caller gets a retriable error and must drop the client (its call goes
 * on, unobserved) and make a new one.
 */
import type { KafkaAdmin, KafkaClient } from './client/index.js'
import { XrcError } from '../errors.js'
import { settleWithin } from '../stage.js'
import { whileSettling } from './topicAdmin.js'

/** A transactional call's deadline: kafkajs's request timeout (30 s), by which any one answer is due. */
export const KAFKA_CALL_DEADLINE_MS = 30_000

/**
 * `work`'s outcome, or XRC_KAFKA_UNREACHABLE (reason callDeadline, retriable) once it has not settled within
 * `timeoutMs`. The late outcome of `work` is dropped (a late rejection is caught, never unhandled).
 */
export async function withinDeadline<T>(work: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new XrcError('XRC_KAFKA_UNREACHABLE', { reason: 'callDeadline', what, timeoutMs })),
      timeoutMs,
    )
  })
  work.catch(() => undefined)
  try {
    return await Promise.race([work, late])
  } finally {
    clearTimeout(timer)
  }
}

/** One partition's offsets as the admin client lists them (read_committed: `offset` is the last stable offset). */
export interface PartitionOffsets {
  partition: number
  offset: string
  high: string
  low: string
}

/**
 * A topic's offsets for a running stage, from an admin client connected on
 * first use and kept: each call bounded by the call deadline and asked again
 * while the cluster settles (topicAdmin.ts whileSettling); a client that
 * failed or hung is dropped, and the next call makes a new one.
 */
export class TopicOffsets {
  readonly #kafka: KafkaClient
  readonly #topic: string
  #admin: KafkaAdmin | undefined

  constructor(kafka: KafkaClient, topic: string) {
    this.#kafka = kafka
    this.#topic = topic
  }

  async fetch(options: { signal?: AbortSignal; onRetry?: (err: unknown) => void } = {}): Promise<PartitionOffsets[]> {
    const admin = this.#admin ?? this.#kafka.admin()
    try {
      if (this.#admin !== admin) {
        await withinDeadline(admin.connect(), KAFKA_CALL_DEADLINE_MS, 'the connect of an admin client')
        this.#admin = admin
      }
      return await whileSettling(
        () =>
          withinDeadline(admin.fetchTopicOffsets(this.#topic), KAFKA_CALL_DEADLINE_MS, `the offsets of ${this.#topic}`),
        options,
      )
    } catch (err) {
      if (this.#admin === admin) this.#admin = undefined
      void settleWithin(admin.disconnect(), KAFKA_CALL_DEADLINE_MS)
      throw err
    }
  }

  async close(): Promise<void> {
    const admin = this.#admin
    this.#admin = undefined
    await settleWithin(admin?.disconnect(), KAFKA_CALL_DEADLINE_MS)
  }
}
