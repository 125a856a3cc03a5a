/**
 * The primary's ear for its secondaries: follows the session's applied topic
 * (schemas/appliedState.ts, written by each applier after its commits) and
 * hands on the latest state of every secondary (the record key is its name),
 * and a tombstone (a null value) as that secondary forgotten; the mirror
 * takes the minimum over them (secondaries.ts). This is all the primary
 * learns of the secondary site, and it learns it through Kafka only.
 *
 * - Safe when silent: KafkaClient, the registry or the topic out of reach only
 *   delays the next state (the follower retries with backoff, as long as
 *   the primary runs); the mirror discards nothing until it hears, so both
 *   change generations stay.
 * - At each (re)start the topic is read to its end before anything is
 *   handed on, so only the latest state of that moment is: an older record
 *   still in a segment not yet compacted never comes after a newer one.
 * - Decodes with a reader that registers nothing (schemas/codec.ts
 *   createDecoder): the primary needs no write access to the applied
 *   subject.
 */
import type { KafkaClient } from '../../lib/kafka/index.js'
import { Backoff } from '../../lib/backoff.js'
import { settleWithin } from '../../lib/stage.js'
import { errorMessage } from '../../lib/errors.js'
import { appliedTopicSpec, createPartitionReader, ensureTopic, type TopicReplication } from '../../lib/kafka/index.js'
import type { Logger } from '../../lib/logger.js'
import { APPLIED_STATE_SCHEMA, type AppliedState } from '../../schemas/appliedState.js'
import { createDecoder } from '../../schemas/codec.js'
import { valueSubject } from '../../schemas/topicNames.js'
import type { RegistryConnection } from '../../schemas/registryClient.js'

export interface AppliedFollowerOptions {
  kafka: KafkaClient
  topic: string
  registry: RegistryConnection
  /** Prefix of the private reader group. */
  groupPrefix: string
  /** topics.*: replication of the topic when created here (unset: the cluster's defaults). */
  replication?: TopicReplication
  logger: Logger
  /** A state of a secondary, newer than any of it handed on before in this run of the reader. */
  onState(state: AppliedState): void
  /** A secondary removed for good (a tombstone for its key): it no longer holds the discard back. */
  onForget(secondary: string): void
}

/** How long stop() waits for the reader to leave before it goes on without it. */
export const FOLLOWER_CLOSE_MS = 2000

/** Follows until stop(). */
export function followAppliedState(options: AppliedFollowerOptions): { stop: () => Promise<void> } {
  const { kafka, topic } = options
  const log = options.logger.child({ component: 'applied-follower', topic })
  const stopping = new AbortController()
  const decoder = createDecoder<AppliedState>({
    registry: options.registry,
    subject: valueSubject(topic),
    schema: APPLIED_STATE_SCHEMA,
  })

  const stopped = new Promise<'stopped'>((resolve) =>
    stopping.signal.addEventListener('abort', () => resolve('stopped'), { once: true }),
  )
  /** `step`, unless stop() comes first (kafkajs may retry a connection for long): then 'stopped'. */
  const untilStopped = <T>(step: Promise<T>): Promise<T | 'stopped'> => {
    step.catch(() => undefined) // an abandoned step's failure is of no interest
    return Promise.race([step, stopped])
  }

  /** One reader from the topic's start until it fails or stop(); resolves then. */
  async function follow(): Promise<void> {
    const end = await appliedTopicEnd(kafka, topic, log, untilStopped, options.replication)
    if (end === 'stopped') return
    const catchUp = new CatchUp(end, options)
    let failed: ((err: Error) => void) | undefined
    const failure = new Promise<Error>((resolve) => (failed = resolve))
    const reader = createPartitionReader({
      kafka,
      topic,
      isolation: 'read_uncommitted',
      groupPrefix: options.groupPrefix,
      logger: log,
      onCrash: (err) => failed?.(err),
      onPosition: (_partition, next) => catchUp.position(next),
      onBatch: async (batch) => {
        for (const m of batch.messages) {
          const secondary = m.key?.toString()
          if (secondary === undefined) continue
          if (m.value === null) {
            catchUp.read(secondary, undefined, Number(m.offset))
            continue
          }
          let state: AppliedState
          try {
            state = await decoder.decode(m.value)
          } catch (err) {
            // not ours to judge: a record we cannot read confirms nothing, and the next one may
            log.warn({ err: errorMessage(err), offset: m.offset }, 'an applied-state record does not decode; skipped')
            continue
          }
          catchUp.read(secondary, state, Number(m.offset))
        }
      },
    })
    try {
      if ((await untilStopped(reader.start())) === 'stopped') return
      const outcome = await Promise.race([failure, stopped])
      if (outcome instanceof Error) throw outcome
    } finally {
      await reader.stop().catch((err: unknown) => log.debug({ err }, 'the applied-topic reader did not stop cleanly'))
    }
  }

  const loop = (async () => {
    const backoff = new Backoff({ initialMs: 500, maxMs: 15_000 })
    while (!stopping.signal.aborted) {
      try {
        await follow()
      } catch (err) {
        if (stopping.signal.aborted) break
        log.warn(
          { err: errorMessage(err), attempt: backoff.attempts + 1 },
          "cannot follow the secondary's applied state; both change generations are kept meanwhile",
        )
        await backoff.wait(stopping.signal).catch(() => undefined)
        continue
      }
      backoff.reset()
    }
  })()

  return {
    async stop() {
      stopping.abort()
      // leaving the reader's group (or the admin's connection) waits on a broker that may answer nothing (paused,
      // unreachable): the primary's stop keeps its bound, and the client is left to close by itself
      if (!(await settleWithin(loop, FOLLOWER_CLOSE_MS)))
        log.warn(
          { waitedMs: FOLLOWER_CLOSE_MS },
          'the applied-topic reader did not close in time; left to close by itself',
        )
    },
  }
}

/**
 * The applied topic's end offset now, or 'stopped' when stop() came first; each step is given up on stop (kafkajs
 * may retry a connection for long), and the admin client is disconnected before this resolves.
 */
async function appliedTopicEnd(
  kafka: KafkaClient,
  topic: string,
  log: Logger,
  untilStopped: <T>(step: Promise<T>) => Promise<T | 'stopped'>,
  replication: TopicReplication = {},
): Promise<number | 'stopped'> {
  const admin = kafka.admin()
  try {
    if ((await untilStopped(admin.connect())) === 'stopped') return 'stopped'
    // the primary may start before any applier: whichever comes first makes the topic
    if ((await untilStopped(ensureTopic(admin, appliedTopicSpec(topic), log, replication))) === 'stopped')
      return 'stopped'
    const offsets = await untilStopped(admin.fetchTopicOffsets(topic))
    if (offsets === 'stopped') return 'stopped'
    return Number(offsets.find((p) => p.partition === 0)?.offset ?? 0)
  } finally {
    await admin.disconnect().catch(() => undefined)
  }
}

/**
 * Until the end of the moment the reader began is read, only the latest state of each secondary is kept (undefined:
 * forgotten); then each is handed on.
 */
class CatchUp {
  readonly #end: number
  readonly #to: Pick<AppliedFollowerOptions, 'onState' | 'onForget'>
  #caughtUp: boolean
  readonly #latest = new Map<string, AppliedState | undefined>()

  constructor(end: number, to: Pick<AppliedFollowerOptions, 'onState' | 'onForget'>) {
    this.#end = end
    this.#to = to
    this.#caughtUp = end === 0
  }

  /** The reader's next offset is `next`. */
  position(next: number): void {
    if (!this.#caughtUp && next >= this.#end) {
      this.#caughtUp = true
      this.#handOn()
    }
  }

  /** The state of `secondary` read at `offset` (undefined: a tombstone). */
  read(secondary: string, state: AppliedState | undefined, offset: number): void {
    this.#latest.set(secondary, state)
    if (!this.#caughtUp && offset + 1 >= this.#end) this.#caughtUp = true
    if (this.#caughtUp) this.#handOn()
  }

  #handOn(): void {
    for (const [secondary, state] of this.#latest) {
      if (state === undefined) this.#to.onForget(secondary)
      else this.#to.onState(state)
    }
    this.#latest.clear()
  }
}
