/**
 * Reads chosen partitions of a topic from chosen offsets, in order, as
 * batches, with backpressure (the next fetch waits for `onBatch`).
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
import type { Consumer, Kafka, KafkaMessage } from 'kafkajs'
import { errorMessage } from '../errors.js'
import type { Logger } from '../logger.js'
import { waitFor } from '../retry.js'

export interface PartitionBatch {
  topic: string
  partition: number
  messages: KafkaMessage[]
  /** Offset after the last message of the partition (for read_committed: the last stable offset). */
  highWatermark: string
}

export interface PartitionReaderOptions {
  kafka: Kafka
  topic: string
  /** Start offsets per partition; partitions not named start at the earliest offset. */
  from?: ReadonlyMap<number, number>
  isolation: 'read_committed' | 'read_uncommitted'
  /** Prefix of the private group id (a unique suffix is added). */
  groupPrefix: string
  logger: Logger
  onBatch: (batch: PartitionBatch) => Promise<void>
  /** Largest fetch per partition, bytes. */
  maxBytesPerPartition?: number
  maxWaitTimeMs?: number
  /** Called when the consumer crashes (kafkajs gave up); the reader is stopped. */
  onCrash?: (error: Error) => void
  /**
   * Called after each fetched batch is done with the partition's next offset
   * to read, including batches of only transaction markers or aborted records,
   * which never reach `onBatch`: how a read_committed reader learns it has
   * reached the end of a transactional topic.
   */
  onPosition?: (partition: number, nextOffset: number) => void
}

export interface PartitionReader {
  start(): Promise<void>
  pause(partitions: number[]): void
  resume(partitions: number[]): void
  /**
   * Reads `partition` again from `offset` (once the reader runs): what is in
   * flight from before is dropped, as records below a start offset are.
   */
  seek(partition: number, offset: number): void
  stop(): Promise<void>
}

export function createPartitionReader(options: PartitionReaderOptions): PartitionReader {
  const groupId = `${options.groupPrefix}.reader.${randomUUID()}`
  const log = options.logger.child({ component: 'partition-reader', topic: options.topic })
  const consumer: Consumer = options.kafka.consumer({
    groupId,
    readUncommitted: options.isolation === 'read_uncommitted',
    maxBytesPerPartition: options.maxBytesPerPartition ?? 4 * 1024 * 1024,
    maxWaitTimeInMs: options.maxWaitTimeMs ?? 50,
    sessionTimeout: 30_000,
    heartbeatInterval: 3000,
    retry: { retries: 8 },
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

  return {
    async start() {
      if (started) throw new Error('partition reader already started')
      started = true
      await consumer.connect()
      await consumer.subscribe({ topic: options.topic, fromBeginning: true })
      await consumer.run({
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
            })
          }
          const last = batch.messages[batch.messages.length - 1]
          if (last) resolveOffset(last.offset)
          await heartbeat()
        },
      })
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
      await consumer.disconnect()
      if (started) {
        const admin = options.kafka.admin()
        try {
          await admin.connect()
          await admin.deleteGroups([groupId])
        } catch (err) {
          log.debug({ err, groupId }, 'could not delete the private reader group')
        } finally {
          await admin.disconnect()
        }
      }
    },
  }
}
