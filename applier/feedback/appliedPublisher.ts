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
import { Backoff } from '../../lib/backoff.js'
import { errorMessage } from '../../lib/errors.js'
import {
  KAFKA_CALL_DEADLINE_MS,
  appliedTopicSpec,
  type IdempotentProducer,
  type KafkaClient,
  connectAdmin,
  connectIdempotentProducer,
  ensureTopic,
  sendWhole,
  withinDeadline,
  type TopicReplication,
} from '../../lib/kafka/index.js'
import { settleWithin } from '../../lib/stage.js'
import type { Logger } from '../../lib/logger.js'
import { sleep } from '../../lib/sleep.js'
import { APPLIED_STATE_SCHEMA, imageOnWire, type AppliedState } from '../../schemas/appliedState.js'
import { createCodec, type AvroCodec } from '../../schemas/codec.js'
import { valueSubject } from '../../schemas/topicNames.js'
import type { AppliedMark } from '../journal/index.js'
import type { ImageState } from '../resync/index.js'
import type { RegistryConnection } from '../../schemas/registryClient.js'

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
  kafka: KafkaClient
  topic: string
  registry: RegistryConnection
  /** The secondary's name (the Kafka key). */
  secondary: string
  /** Least time between two records, ms (applier.feedbackMs). */
  intervalMs: number
  /** topics.*: replication of the topic when created here (unset: the cluster's defaults). */
  replication?: TopicReplication
  logger: Logger
  /** A ready codec for the topic's value subject; made (the schema registered) on first use otherwise. */
  codec?: AvroCodec<AppliedState>
}

/** What the publishing loop does next (publishStep). */
export type PublishStep = { do: 'end' } | { do: 'nap'; ms: number } | { do: 'send' }

/** How long the loop sleeps with nothing to publish; a note or stop() wakes it. */
const IDLE_NAP_MS = 60_000

/**
 * The loop's decision, pure: while flushing (stop() called) it sends what is
 * noted until the flush deadline, ignoring the interval; otherwise it sends
 * the noted state once `intervalMs` passed since the last send, naps until
 * then, or naps idle when nothing is noted.
 */
export function publishStep(s: {
  noted: boolean
  flushDeadline: number | undefined
  lastSentAt: number
  intervalMs: number
  now: number
}): PublishStep {
  if (s.flushDeadline !== undefined) return !s.noted || s.now >= s.flushDeadline ? { do: 'end' } : { do: 'send' }
  if (!s.noted) return { do: 'nap', ms: IDLE_NAP_MS }
  const due = s.lastSentAt + s.intervalMs - s.now
  return due > 0 ? { do: 'nap', ms: due } : { do: 'send' }
}

export function createAppliedPublisher(options: AppliedPublisherOptions): AppliedPublisher {
  return new KafkaAppliedPublisher(options)
}

class KafkaAppliedPublisher implements AppliedPublisher {
  readonly #options: AppliedPublisherOptions
  readonly #log: Logger
  readonly #stopping = new AbortController()
  readonly #backoff = new Backoff({ initialMs: 200, maxMs: 10_000 })
  #pending: AppliedNote | undefined
  #lastSentAt = 0
  #flushDeadline: number | undefined
  #wake = new AbortController()
  #loop: Promise<void> | undefined
  #producer: IdempotentProducer | undefined
  #codec: AvroCodec<AppliedState> | undefined

  constructor(options: AppliedPublisherOptions) {
    this.#options = options
    this.#codec = options.codec
    this.#log = options.logger.child({
      component: 'applied-publisher',
      topic: options.topic,
      secondary: options.secondary,
    })
  }

  note(state: AppliedNote): void {
    if (this.#flushDeadline !== undefined) return
    this.#pending = state
    this.#loop ??= this.#run().catch((err: unknown) => this.#log.error({ err }, 'the applied-state publisher failed'))
    // wakes a nap so a first note goes at once; a later one still waits for its interval
    this.#wake.abort()
    this.#wake = new AbortController()
  }

  async stop(stopOptions: { flushTimeoutMs?: number } = {}): Promise<boolean> {
    if (this.#flushDeadline !== undefined) return this.#pending === undefined
    const bound = stopOptions.flushTimeoutMs ?? 3000
    this.#flushDeadline = Date.now() + bound
    this.#wake.abort()
    this.#stopping.abort()
    // a send hanging on an unreachable broker does not hold the applier's stop beyond the bound
    let timer: NodeJS.Timeout | undefined
    await Promise.race([this.#loop, new Promise<void>((resolve) => (timer = setTimeout(resolve, bound)))])
    clearTimeout(timer)
    await this.#producer?.close().catch((err: unknown) => this.#log.warn({ err }, 'closing the Kafka producer failed'))
    this.#producer = undefined
    return this.#pending === undefined
  }

  async #run(): Promise<void> {
    for (;;) {
      const flushing = this.#flushDeadline !== undefined
      const step = publishStep({
        noted: this.#pending !== undefined,
        flushDeadline: this.#flushDeadline,
        lastSentAt: this.#lastSentAt,
        intervalMs: this.#options.intervalMs,
        now: Date.now(),
      })
      if (step.do === 'end') return
      if (step.do === 'nap') await this.#nap(step.ms)
      else await this.#sendPending(flushing)
    }
  }

  /**
   * One attempt to publish the noted state; on failure the producer is
   * dropped and the backoff waited (while `flushing`, no longer than the
   * flush deadline; otherwise until stop() cuts it short).
   */
  async #sendPending(flushing: boolean): Promise<void> {
    const state = this.#pending as AppliedNote
    try {
      // bounded (lib/kafka/callDeadline.ts): a send to a broker that died under it must not stop the feedback for good
      await withinDeadline(this.#publish(state), 2 * KAFKA_CALL_DEADLINE_MS, 'the publish of the applied state')
      if (this.#pending === state) this.#pending = undefined
      this.#lastSentAt = Date.now()
      this.#backoff.reset()
      this.#log.debug(
        { groupSeq: state.groupSeq, groupTime: state.groupTime, image: state.image },
        'applied state published',
      )
    } catch (err) {
      const reset = this.#producer
      this.#producer = undefined
      await settleWithin(reset?.close(), KAFKA_CALL_DEADLINE_MS)
      this.#log.warn(
        { err: errorMessage(err), attempt: this.#backoff.attempts + 1 },
        'could not publish the applied state; the primary keeps both change generations meanwhile',
      )
      if (flushing) {
        await sleep(Math.min(this.#backoff.next(), Math.max(0, (this.#flushDeadline as number) - Date.now())))
        return
      }
      await this.#backoff.wait(this.#stopping.signal).catch(() => undefined)
    }
  }

  async #publish(state: AppliedNote): Promise<void> {
    const ready = await this.#connect()
    const value = ready.codec.encode({ ...state, publishedAt: Date.now() })
    // the applied topic has one partition (appliedTopicSpec), keyed and compacted by secondary
    await sendWhole(ready.producer, this.#options.topic, [
      { partition: 0, key: this.#options.secondary, value, headers: {} },
    ])
  }

  async #connect(): Promise<{ producer: IdempotentProducer; codec: AvroCodec<AppliedState> }> {
    const { kafka, topic } = this.#options
    if (this.#producer === undefined) {
      const admin = await connectAdmin(kafka)
      try {
        await ensureTopic(admin, appliedTopicSpec(topic), this.#log, this.#options.replication)
      } finally {
        await admin.disconnect()
      }
      this.#codec ??= await createCodec<AppliedState>({
        registry: this.#options.registry,
        subject: valueSubject(topic),
        schema: APPLIED_STATE_SCHEMA,
      })
      this.#producer = await connectIdempotentProducer(kafka)
    }
    return { producer: this.#producer, codec: this.#codec as AvroCodec<AppliedState> }
  }

  /** Waits `ms`, or less when a note or stop() wakes it. */
  async #nap(ms: number): Promise<void> {
    await sleep(ms, AbortSignal.any([this.#wake.signal, this.#stopping.signal])).catch(() => undefined)
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
