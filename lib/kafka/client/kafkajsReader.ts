/**
 * The partition reader on kafkajs (partitionReader.ts has the interface).
 *
 * kafkajs has no manual assign() and no KIP-447 fencing, so the mirroring
 * path does not use consumer-group rebalancing: each reader joins a private
 * group of its own (a single member, which the assigner gives every
 * partition), never commits through it, seeks to the offsets its caller
 * keeps (in the journal or the control table), and deletes the group when it
 * stops. Messages before a requested start offset (a fetch that raced the
 * seek) are dropped here, so callers see each partition from exactly where
 * they asked.
 */
import { randomUUID } from 'node:crypto'
import type { Consumer, Kafka } from 'kafkajs'
import { XrcError, errorMessage } from '../../errors.js'
import { waitFor } from '../../retry.js'
import { KAFKA_CALL_DEADLINE_MS, withinDeadline } from '../callDeadline.js'
import type { PartitionReader, PartitionReaderOptions } from './partitionReader.js'

export function createKafkajsReader(
  options: Omit<PartitionReaderOptions, 'kafka' | 'library'> & { kafka: Kafka },
): PartitionReader {
  const groupId = `${options.groupPrefix}.reader.${randomUUID()}`
  const log = options.logger.child({ component: 'partition-reader', topic: options.topic })
  const consumer: Consumer = options.kafka.consumer({
    groupId,
    readUncommitted: options.isolation === 'read_uncommitted',
    maxBytesPerPartition: options.maxBytesPerPartition ?? 4 * 1024 * 1024,
    maxWaitTimeInMs: options.maxWaitTimeMs ?? 50,
    sessionTimeout: 30_000,
    heartbeatInterval: 3000,
    // kafkajs restarts a crashed consumer after its last retry's delay: with the default cap (30 s) a reader whose
    // group coordinator died retried that broker for about a minute and then waited 30 s more (an applier applied
    // nothing for over 90 s after a broker's SIGKILL on the three-node cluster); capped at 5 s, it is back in ~25 s
    retry: { retries: 8, maxRetryTime: 5_000 },
  })
  const startAt = new Map(options.from ?? [])
  let started = false
  let stopped = false
  let crashed: Error | undefined

  if (options.onPosition) {
    const onPosition = options.onPosition
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      if (e.payload.topic === options.topic) onPosition(e.payload.partition, Number(e.payload.lastOffset) + 1)
    })
  }

  consumer.on(consumer.events.CRASH, (e) => {
    const err = e.payload.error
    log.error({ err, restart: e.payload.restart }, 'consumer crashed')
    if (!e.payload.restart) {
      crashed = err
      options.onCrash?.(err)
    }
  })

  // A fetch that never returns stops its partitions without a crash (kafkajs fetches per broker and waits on each;
  // tulios/kafkajs#659): past FETCH_STALL_MS the reader reports itself crashed, and its stage makes a new one.
  const fetching = new FetchWatch(FETCH_STALL_MS, Date.now())
  consumer.on(consumer.events.FETCH_START, (e) => fetching.started(e.payload.nodeId, Date.now()))
  consumer.on(consumer.events.FETCH, (e) => fetching.ended(e.payload.nodeId, Date.now()))
  consumer.on(consumer.events.GROUP_JOIN, () => fetching.reset(Date.now()))
  consumer.on(consumer.events.CRASH, () => fetching.reset(Date.now()))
  let watchdog: NodeJS.Timeout | undefined
  const watch = (): void => {
    watchdog = setInterval(() => {
      const stall = fetching.stalled(Date.now())
      if (stall === undefined || stopped || crashed !== undefined) return
      clearInterval(watchdog)
      const err = new XrcError('XRC_KAFKA_UNREACHABLE', {
        reason: 'fetchStalled',
        topic: options.topic,
        nodeId: stall.nodeId,
        waitedMs: stall.waitedMs,
      })
      log.error({ err, nodeId: stall.nodeId, waitedMs: stall.waitedMs }, 'a fetch never returned')
      crashed = err
      options.onCrash?.(err)
    }, FETCH_STALL_MS / 6)
    watchdog.unref()
  }

  return {
    async start() {
      if (started) throw new Error('partition reader already started')
      started = true
      fetching.reset(Date.now())
      watch()
      // each call bounded (callDeadline.ts): a reader that never starts fails its stage's start, which retries
      const what = `the reader of ${options.topic}`
      await withinDeadline(consumer.connect(), KAFKA_CALL_DEADLINE_MS, `the connect of ${what}`)
      await withinDeadline(
        consumer.subscribe({ topic: options.topic, fromBeginning: true }),
        KAFKA_CALL_DEADLINE_MS,
        `the subscribe of ${what}`,
      )
      const running = consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
          const floor = startAt.get(batch.partition)
          const messages =
            floor === undefined ? batch.messages : batch.messages.filter((m) => Number(m.offset) >= floor)
          if (floor !== undefined && messages.length > 0) startAt.delete(batch.partition)
          if (messages.length > 0 && isRunning() && !isStale()) {
            await options.onBatch({
              topic: batch.topic,
              partition: batch.partition,
              messages,
              highWatermark: batch.highWatermark,
              heartbeat,
            })
          }
          const last = batch.messages[batch.messages.length - 1]
          if (last) resolveOffset(last.offset)
          await heartbeat()
        },
      })
      // run() joins the group: several requests, each retried while a coordinator loads
      await withinDeadline(running, 2 * KAFKA_CALL_DEADLINE_MS, `the group join of ${what}`)
      // A group coordinator that is still loading (a broker just started) fails the first join: kafkajs
      // restarts the consumer, and a seek meanwhile throws "not initialized" (the applier then refused to
      // start). Seek once it runs; what arrives before that is cut at the start offsets above.
      for (const [partition, offset] of startAt) {
        await waitFor(
          `the reader of ${options.topic} to join its group`,
          () => {
            if (!startAt.has(partition)) return true // delivered from the start offset already
            try {
              consumer.seek({ topic: options.topic, partition, offset: String(offset) })
              return true
            } catch (err) {
              if (/not initialized/i.test(errorMessage(err))) return undefined
              throw err
            }
          },
          {
            timeoutMs: 60_000,
            intervalMs: 100,
            abortIf: () => (crashed ? `the consumer failed: ${crashed.message}` : undefined),
          },
        )
      }
    },
    pause(partitions) {
      if (partitions.length > 0) consumer.pause([{ topic: options.topic, partitions }])
    },
    resume(partitions) {
      if (partitions.length > 0) consumer.resume([{ topic: options.topic, partitions }])
    },
    seek(partition, offset) {
      startAt.set(partition, offset)
      consumer.seek({ topic: options.topic, partition, offset: String(offset) })
    },
    async stop() {
      if (stopped) return
      stopped = true
      clearInterval(watchdog)
      // kafkajs's disconnect never settles when it comes while the consumer restarts after a crash (a broker died:
      // tulios/kafkajs#1147); a mover's restart waited on it for good. The group is private: leave it to expire.
      if ((await settledWithin(consumer.disconnect(), STOP_WAIT_MS)) === 'timeout') {
        log.warn({ groupId, waitedMs: STOP_WAIT_MS }, 'the reader did not disconnect in time; left to close by itself')
        return
      }
      if (started) {
        const admin = options.kafka.admin()
        const deleted = (async () => {
          try {
            await admin.connect()
            await admin.deleteGroups([groupId])
          } catch (err) {
            log.debug({ err, groupId }, 'could not delete the private reader group')
          } finally {
            await admin.disconnect()
          }
        })()
        if ((await settledWithin(deleted, STOP_WAIT_MS)) === 'timeout')
          log.debug({ groupId }, 'deleting the private reader group took too long; it expires by itself')
      }
    },
  }
}

/** How long one fetch may stay unanswered before the reader counts as crashed, ms: two request timeouts. */
export const FETCH_STALL_MS = 2 * KAFKA_CALL_DEADLINE_MS

/**
 * The fetches in flight, per broker (kafkajs fetches from each broker in turn), pure: whether the reader is stalled.
 * Stalled: a fetch has waited stallMs or more and no fetch of any broker returned meanwhile. (A fetch that failed
 * emits no end, and a broker gone from the metadata is fetched no more: its entry alone must not count, as long as
 * other fetches return; a group join starts the fetches anew and forgets the old ones.)
 */
export class FetchWatch {
  readonly #since = new Map<number, number>()
  readonly #stallMs: number
  #lastEnded: number

  constructor(stallMs: number, now: number) {
    this.#stallMs = stallMs
    this.#lastEnded = now
  }

  started(nodeId: number, now: number): void {
    this.#since.set(nodeId, now)
  }

  ended(nodeId: number, now: number): void {
    this.#since.delete(nodeId)
    this.#lastEnded = now
  }

  /** The group was joined again (or the consumer restarted): the fetches begin anew. */
  reset(now: number): void {
    this.#since.clear()
    this.#lastEnded = now
  }

  /** The broker whose fetch has waited longest, when the reader is stalled; undefined otherwise. */
  stalled(now: number): { nodeId: number; waitedMs: number } | undefined {
    if (now - this.#lastEnded < this.#stallMs) return undefined
    let oldest: { nodeId: number; waitedMs: number } | undefined
    for (const [nodeId, since] of this.#since) {
      const waitedMs = now - since
      if (waitedMs >= this.#stallMs && (oldest === undefined || waitedMs > oldest.waitedMs))
        oldest = { nodeId, waitedMs }
    }
    return oldest
  }
}

/** How long stop() waits for kafkajs to disconnect, and then to delete the private group, ms. */
const STOP_WAIT_MS = 10_000

/** `promise`'s value, or 'timeout' when it has not settled within `ms` (a rejection is thrown). */
function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms)
    timer.unref()
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
