/**
 * The partition reader on @platformatic/kafka: chosen partitions of a topic
 * from chosen offsets, in order, as batches, with backpressure (a
 * partition's next fetch waits for its `onBatch`), by plain Fetch requests
 * to each partition's leader: no consumer group, nothing committed. The
 * records a fetch gives are cut at the position asked for, aborted
 * transactions left out (read_committed) and control batches skipped
 * (fetchedRecords.ts).
 *
 * Failures: a partition whose leader moved is fetched again after the
 * metadata is read anew; a position past the log's end or before its start
 * (OFFSET_OUT_OF_RANGE) moves to the log start, as kafkajs's reader does;
 * other failures are retried with a backoff, and after FAILURES_TO_CRASH in
 * a row the reader reports itself crashed (`onCrash`) and its stage makes a
 * new one. Every request is bounded by the client's request timeout, so a
 * fetch cannot hang a partition for good.
 */
import { randomUUID } from 'node:crypto'
import { Consumer, ListOffsetTimestamps, type fetchV17 } from '@platformatic/kafka'
import type { KafkaConnection } from '../../config.js'
import type { Logger } from '../../logger.js'
import { Backoff } from '../../backoff.js'
import { XrcError } from '../../errors.js'
import { KAFKA_CALL_DEADLINE_MS, withinDeadline } from '../callDeadline.js'
import { startupRetry } from '../topicAdmin.js'
import type { PartitionBatch, PartitionReader, PartitionReaderOptions } from './partitionReader.js'
import { fromPlatformatic, platformaticFailure } from './clientErrors.js'
import { takeRecords, type FetchedBatch } from './fetchedRecords.js'
import { platformaticConnection } from './platformaticProducer.js'

type FetchResponse = fetchV17.FetchResponse

/** Failed fetch rounds in a row after which the reader counts as crashed. */
const FAILURES_TO_CRASH = 8

export type PlatformaticReaderOptions = Omit<PartitionReaderOptions, 'kafka' | 'groupPrefix' | 'library'> & {
  connection: KafkaConnection
  clientId: string
}

interface PartitionState {
  position: bigint
  /** Bumped by a seek: a fetch answered for an older generation is dropped. */
  generation: number
}

export function createPlatformaticReader(options: PlatformaticReaderOptions): PartitionReader {
  return new PlatformaticReader(options)
}

class PlatformaticReader implements PartitionReader {
  readonly #options: PlatformaticReaderOptions
  readonly #log: Logger
  readonly #consumer: Consumer<Buffer, Buffer, Buffer, Buffer>
  readonly #partitions = new Map<number, PartitionState>()
  readonly #paused = new Set<number>()
  #topicId = ''
  #leaders = new Map<number, number>()
  #started = false
  #stopped = false
  #crashed: Error | undefined
  #loop: Promise<void> | undefined
  #wake: (() => void) | undefined
  #failures = 0
  /** The last failed fetch's error: what a crash reports once failures repeat. */
  #lastFailure: Error | undefined
  readonly #backoff = new Backoff({ initialMs: 100, maxMs: 2000, jitter: 'full' })

  constructor(options: PlatformaticReaderOptions) {
    this.#options = options
    this.#log = options.logger.child({ component: 'partition-reader', topic: options.topic })
    this.#consumer = new Consumer({
      clientId: options.clientId,
      groupId: `xrc.reader.${randomUUID()}`, // never joined: the reader fetches by itself
      ...platformaticConnection(options.connection),
      isolationLevel: options.isolation === 'read_committed' ? 1 : 0,
      connectTimeout: 3000,
      requestTimeout: 30_000,
      timeout: 30_000,
      retries: 0, // the reader retries, with its own backoff and crash bound
      minBytes: 1,
      maxBytes: 16 * 1024 * 1024,
      maxWaitTime: options.maxWaitTimeMs ?? 50,
    })
  }

  async start(): Promise<void> {
    if (this.#started) throw new Error('partition reader already started')
    this.#started = true
    const { topic } = this.#options
    this.#consumer.topics.track(topic)
    const starts = await this.#untilAnswered(`the metadata and log start of the reader of ${topic}`, async () => {
      await this.#readMetadata()
      return this.#logStarts()
    })
    for (const partition of this.#leaders.keys()) {
      const from = this.#options.from?.get(partition)
      this.#partitions.set(partition, {
        position: from === undefined ? (starts.get(partition) ?? 0n) : BigInt(from),
        generation: 0,
      })
    }
    this.#loop = this.#run()
  }

  /**
   * `call` (each try within KAFKA_CALL_DEADLINE_MS), asked again while the cluster answers that it is settling, as
   * the start-up admin calls are (topicAdmin.ts startupRetry): a topic just created may not be known yet to the
   * broker that leads a partition of it ("This server does not host this topic-partition" from ListOffsets: a
   * mover exited on it at the start of a fresh three-broker cluster in the soak). Any other failure (an unknown
   * topic, a refused login, an ACL) is thrown at once.
   */
  #untilAnswered<T>(what: string, call: () => Promise<T>): Promise<T> {
    const once = (): Promise<T> =>
      withinDeadline(call(), KAFKA_CALL_DEADLINE_MS, what).catch((err: unknown) => {
        throw err instanceof XrcError ? err : fromPlatformatic(err)
      })
    return startupRetry(once, {
      stopped: () => this.#stopped,
      onRetry: (err, attempt) => this.#log.debug({ err, attempt }, `${what} failed: asking again`),
    })
  }

  pause(partitions: number[]): void {
    for (const p of partitions) this.#paused.add(p)
  }

  resume(partitions: number[]): void {
    for (const p of partitions) this.#paused.delete(p)
    this.#wakeUp()
  }

  seek(partition: number, offset: number): void {
    const state = this.#partitions.get(partition)
    if (state === undefined) return
    state.position = BigInt(offset)
    state.generation++
    this.#wakeUp()
  }

  async stop(): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    this.#wakeUp()
    await new Promise<void>((resolve) => this.#consumer.close(true, () => resolve()))
    await this.#loop?.catch(() => undefined)
  }

  /** Fetch rounds until stopped or crashed: each round asks every leader for its partitions that are not paused. */
  async #run(): Promise<void> {
    while (!this.#stopped && this.#crashed === undefined) {
      const byLeader = new Map<number, number[]>()
      for (const [partition, leader] of this.#leaders)
        if (!this.#paused.has(partition)) byLeader.set(leader, [...(byLeader.get(leader) ?? []), partition])
      if (byLeader.size === 0) {
        await this.#sleep(1000) // every partition paused: a resume or a stop wakes it
        continue
      }
      const outcomes = await Promise.all([...byLeader].map(([node, partitions]) => this.#fetchFrom(node, partitions)))
      if (this.#stopped) return
      if (outcomes.every((ok) => ok)) {
        this.#failures = 0
        this.#backoff.reset()
        continue
      }
      if (++this.#failures >= FAILURES_TO_CRASH) {
        this.#crash(this.#lastFailure ?? new Error(`${FAILURES_TO_CRASH} fetch rounds failed`))
        return
      }
      await this.#sleep(this.#backoff.next())
      await this.#readMetadata().catch((err: unknown) => this.#log.debug({ err }, 'reading the metadata failed'))
    }
  }

  /** One fetch from `node`; false when it failed (the round is retried after a backoff). */
  async #fetchFrom(node: number, partitions: number[]): Promise<boolean> {
    const asked = partitions.map((p) => ({ partition: p, ...(this.#partitions.get(p) as PartitionState) }))
    let response: FetchResponse
    try {
      response = await this.#consumer.fetch({
        node,
        topics: [
          {
            topicId: this.#topicId,
            partitions: asked.map((a) => ({
              partition: a.partition,
              fetchOffset: a.position,
              partitionMaxBytes: this.#options.maxBytesPerPartition ?? 4 * 1024 * 1024,
              currentLeaderEpoch: -1,
              lastFetchedEpoch: -1,
            })),
          },
        ],
      })
    } catch (err) {
      if (this.#stopped) return true
      // a response with errors for some partitions still carries the others' records
      const partial = (err as { response?: FetchResponse }).response
      if (partial !== undefined && Array.isArray(partial.responses)) {
        await this.#take(partial, asked)
        return this.#failed(err, partial)
      }
      return this.#failed(err, undefined)
    }
    await this.#take(response, asked)
    return true
  }

  /** Hands each partition's records to `onBatch`, in order, and moves its position. */
  async #take(response: FetchResponse, asked: { partition: number; generation: number }[]): Promise<void> {
    for (const topic of response.responses) {
      for (const p of topic.partitions) {
        const state = this.#partitions.get(p.partitionIndex)
        const sent = asked.find((a) => a.partition === p.partitionIndex)
        if (p.errorCode !== 0 || state === undefined || sent === undefined) continue
        if (sent.generation !== state.generation || this.#stopped) continue // a seek meanwhile: fetched again
        const aborted = this.#options.isolation === 'read_committed' ? p.abortedTransactions : undefined
        const { records, next } = takeRecords((p.records ?? []) as FetchedBatch[], state.position, aborted)
        if (records.length > 0) {
          const batch: PartitionBatch = {
            topic: this.#options.topic,
            partition: p.partitionIndex,
            messages: records as unknown as PartitionBatch['messages'],
            highWatermark: String(this.#options.isolation === 'read_committed' ? p.lastStableOffset : p.highWatermark),
            heartbeat: () => Promise.resolve(),
          }
          await this.#options.onBatch(batch)
        }
        if (sent.generation !== state.generation || this.#stopped) continue
        state.position = next
        this.#options.onPosition?.(p.partitionIndex, Number(next))
      }
    }
  }

  /** A failed fetch: what it says about each partition acted on; a crash once failures repeat. */
  async #failed(err: unknown, partial: FetchResponse | undefined): Promise<boolean> {
    const outOfRange: number[] = []
    for (const topic of partial?.responses ?? [])
      for (const p of topic.partitions) if (p.errorCode === OFFSET_OUT_OF_RANGE) outOfRange.push(p.partitionIndex)
    if (outOfRange.length > 0) {
      const starts = await this.#logStarts().catch(() => undefined)
      for (const partition of outOfRange) {
        const state = this.#partitions.get(partition)
        const start = starts?.get(partition)
        if (state === undefined || start === undefined) continue
        this.#log.warn(
          { partition, from: String(state.position), to: String(start) },
          'offset out of range: reading from the log start',
        )
        state.position = start
        state.generation++
      }
    }
    const failure = platformaticFailure(err)
    this.#lastFailure = fromPlatformatic(err)
    // what no retry mends crashes now; the rest counts towards the crash bound of the loop (#run)
    if (!failure.retriable && failure.type !== 'OFFSET_OUT_OF_RANGE' && !STALE.has(failure.type ?? ''))
      this.#crash(this.#lastFailure)
    else this.#log.debug({ err: this.#lastFailure }, 'a fetch failed: fetching again')
    return false
  }

  #crash(err: Error): void {
    if (this.#crashed !== undefined || this.#stopped) return
    this.#crashed = err
    this.#log.error({ err }, 'reader crashed')
    this.#options.onCrash?.(err)
  }

  async #readMetadata(): Promise<void> {
    const { topic } = this.#options
    const metadata = await this.#consumer.metadata({ topics: [topic], forceUpdate: true })
    const t = metadata.topics.get(topic)
    if (t === undefined) throw new Error(`topic ${topic} has no metadata`)
    this.#topicId = t.id
    this.#leaders = new Map(t.partitions.map((p, i) => [i, p.leader]))
  }

  /** The first offset of each partition's log. */
  async #logStarts(): Promise<Map<number, bigint>> {
    const { topic } = this.#options
    const offsets = await this.#consumer.listOffsets({ topics: [topic], timestamp: ListOffsetTimestamps.EARLIEST })
    return new Map((offsets.get(topic) ?? []).map((o, i) => [i, o]))
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined
        resolve()
      }, ms)
      this.#wake = () => {
        clearTimeout(timer)
        this.#wake = undefined
        resolve()
      }
    })
  }

  #wakeUp(): void {
    this.#wake?.()
  }
}

const OFFSET_OUT_OF_RANGE = 1
/** Kafka's errors that say the metadata is stale: the leader moved. */
const STALE = new Set([
  'NOT_LEADER_OR_FOLLOWER',
  'LEADER_NOT_AVAILABLE',
  'UNKNOWN_TOPIC_OR_PARTITION',
  'FENCED_LEADER_EPOCH',
  'UNKNOWN_LEADER_EPOCH',
])
