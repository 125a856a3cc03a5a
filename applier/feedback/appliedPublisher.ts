/**
 * What the secondary tells the primary: the applier publishes its last
 * committed group and image state on the session's applied topic
 * (schemas/appliedState.ts), where the primary follows it to discard its
 * older change generation (US 6,088,697).
 *
 * - Only what is committed: the applier notes a state after the group's
 *   transaction committed (and at start-up, the state it found), so a record
 *   never claims more than the secondary holds.
 * - Bounded rate: one slot holds the latest state noted; it is published at
 *   most once per `intervalMs` (the first at once), so frequent groups cost
 *   one record per interval, and a state overtaken before its turn is never
 *   sent.
 * - Never in the way: Kafka or the registry out of reach only delays the
 *   next record (retried with backoff; applying goes on). Late or lost
 *   feedback is safe: the primary keeps both generations until it hears.
 * - stop() publishes the last state noted if it can within a bound.
 */
import type { Kafka, Producer } from 'kafkajs'
import { Backoff } from '../../lib/backoff.js'
import { errorMessage } from '../../lib/errors.js'
import { appliedTopicSpec, connectAdmin, ensureTopic } from '../../lib/kafka/index.js'
import type { Logger } from '../../lib/logger.js'
import { sleep } from '../../lib/sleep.js'
import { APPLIED_STATE_SCHEMA, imageOnWire, type AppliedState } from '../../schemas/appliedState.js'
import { createCodec, type AvroCodec } from '../../schemas/codec.js'
import { valueSubject } from '../../schemas/topicNames.js'
import type { AppliedMark } from '../journal/index.js'
import type { ImageState } from '../resync/index.js'

/** A state to publish; publishedAt is set when it goes. */
export type AppliedNote = Omit<AppliedState, 'publishedAt'>

/** The note for a secondary that holds `mark` (undefined: no group yet) with its image in `image`. */
export function appliedNote(
  session: string,
  secondary: string,
  mark: Pick<AppliedMark, 'groupSeq' | 'groupTime'> | undefined,
  image: ImageState | undefined,
): AppliedNote {
  const fallback = image?.state === 'consistent' ? undefined : image?.consistentGroup
  return {
    session,
    secondary,
    groupSeq: mark?.groupSeq ?? 0,
    groupTime: mark?.groupTime ?? null,
    image: imageOnWire(image?.state ?? 'consistent'),
    consistentGroupSeq: fallback?.groupSeq ?? null,
    consistentGroupTime: fallback?.groupTime ?? null,
  }
}

export interface AppliedPublisher {
  /** The secondary holds this state (committed): it goes out within `intervalMs`, unless a later note replaces it. */
  note(state: AppliedNote): void
  /**
   * Publishes the state noted last if it can within `flushTimeoutMs`
   * (default 3000), then disconnects. Resolves true when nothing noted is
   * left unpublished. Idempotent.
   */
  stop(options?: { flushTimeoutMs?: number }): Promise<boolean>
}

export interface AppliedPublisherOptions {
  kafka: Kafka
  brokers: readonly string[]
  topic: string
  registryUrl: string
  /** The secondary's name (the Kafka key). */
  secondary: string
  /** Least time between two records, ms (applier.feedbackMs). */
  intervalMs: number
  logger: Logger
  /** A ready codec for the topic's value subject; made (the schema registered) on first use otherwise. */
  codec?: AvroCodec<AppliedState>
}

export function createAppliedPublisher(options: AppliedPublisherOptions): AppliedPublisher {
  const { kafka, topic, secondary, intervalMs } = options
  const log = options.logger.child({ component: 'applied-publisher', topic, secondary })
  const stopping = new AbortController()
  let pending: AppliedNote | undefined
  let lastSentAt = 0
  let flushDeadline: number | undefined
  let wake: AbortController = new AbortController()
  let loop: Promise<void> | undefined
  let producer: Producer | undefined
  let codec: AvroCodec<AppliedState> | undefined = options.codec

  async function connect(): Promise<{ producer: Producer; codec: AvroCodec<AppliedState> }> {
    if (producer === undefined) {
      const admin = await connectAdmin(kafka, options.brokers)
      try {
        await ensureTopic(admin, appliedTopicSpec(topic), log)
      } finally {
        await admin.disconnect()
      }
      codec ??= await createCodec<AppliedState>({
        registryUrl: options.registryUrl,
        subject: valueSubject(topic),
        schema: APPLIED_STATE_SCHEMA,
      })
      const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
      await p.connect()
      producer = p
    }
    return { producer, codec: codec as AvroCodec<AppliedState> }
  }

  async function publish(state: AppliedNote): Promise<void> {
    const ready = await connect()
    const value = ready.codec.encode({ ...state, publishedAt: Date.now() })
    await ready.producer.send({ topic, acks: -1, messages: [{ key: secondary, value }] })
  }

  /** Waits `ms`, or less when a note or stop() wakes it. */
  async function nap(ms: number): Promise<void> {
    await sleep(ms, AbortSignal.any([wake.signal, stopping.signal])).catch(() => undefined)
  }

  async function run(): Promise<void> {
    const backoff = new Backoff({ initialMs: 200, maxMs: 10_000 })
    for (;;) {
      const flushing = flushDeadline !== undefined
      if (flushing && (pending === undefined || Date.now() >= (flushDeadline as number))) return
      if (pending === undefined) {
        await nap(60_000)
        continue
      }
      const due = lastSentAt + intervalMs - Date.now()
      if (due > 0 && !flushing) {
        await nap(due)
        continue
      }
      const state = pending
      try {
        await publish(state)
        if (pending === state) pending = undefined
        lastSentAt = Date.now()
        backoff.reset()
        log.debug(
          { groupSeq: state.groupSeq, groupTime: state.groupTime, image: state.image },
          'applied state published',
        )
      } catch (err) {
        const reset = producer
        producer = undefined
        await reset?.disconnect().catch(() => undefined)
        log.warn(
          { err: errorMessage(err), attempt: backoff.attempts + 1 },
          'could not publish the applied state; the primary keeps both change generations meanwhile',
        )
        if (flushing) {
          await sleep(Math.min(backoff.next(), Math.max(0, (flushDeadline as number) - Date.now())))
          continue
        }
        await backoff.wait(stopping.signal).catch(() => undefined)
      }
    }
  }

  return {
    note(state) {
      if (flushDeadline !== undefined) return
      pending = state
      loop ??= run().catch((err: unknown) => log.error({ err }, 'the applied-state publisher failed'))
      // wakes a nap so a first note goes at once; a later one still waits for its interval
      wake.abort()
      wake = new AbortController()
    },
    async stop(stopOptions = {}) {
      if (flushDeadline !== undefined) return pending === undefined
      const bound = stopOptions.flushTimeoutMs ?? 3000
      flushDeadline = Date.now() + bound
      wake.abort()
      stopping.abort()
      // a send hanging on an unreachable broker does not hold the applier's stop beyond the bound
      let timer: NodeJS.Timeout | undefined
      await Promise.race([loop, new Promise<void>((resolve) => (timer = setTimeout(resolve, bound)))])
      clearTimeout(timer)
      await producer?.disconnect().catch((err: unknown) => log.warn({ err }, 'closing the Kafka producer failed'))
      producer = undefined
      return pending === undefined
    },
  }
}

/**
 * Publishes one state at once, for the secondary-site commands that change
 * the image without the applier (xrc rollback, xrc resync): true when Kafka
 * took it within `timeoutMs` (default 10 s). False is safe: the primary
 * goes on with what it heard last, which claimed no more than was true then.
 */
export async function publishAppliedOnce(
  options: Omit<AppliedPublisherOptions, 'intervalMs'> & { note: AppliedNote; timeoutMs?: number },
): Promise<boolean> {
  const publisher = createAppliedPublisher({ ...options, intervalMs: 1 })
  publisher.note(options.note)
  return publisher.stop({ flushTimeoutMs: options.timeoutMs ?? 10_000 })
}
