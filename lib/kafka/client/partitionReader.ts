/**
 * Reads chosen partitions of a topic from chosen offsets, in order, as
 * batches, with backpressure (the next fetch waits for `onBatch`), on either
 * library: kafkajsReader.ts (a private consumer group of one member) or
 * platformaticReader.ts (plain fetches, no group). Records before a
 * requested start offset are dropped, so callers see each partition from
 * exactly where they asked.
 */
import { type KafkaClient, kafkajsOf } from './kafkaClient.js'
import type { Logger } from '../../logger.js'
import type { ReadRecord } from './fetchedRecords.js'
import { createKafkajsReader } from './kafkajsReader.js'
import { createPlatformaticReader } from './platformaticReader.js'
import type { KafkaClientName } from './types.js'

export interface PartitionBatch {
  topic: string
  partition: number
  messages: ReadRecord[]
  /** Offset after the last message of the partition (for read_committed: the last stable offset). */
  highWatermark: string
  /**
   * Tells the group coordinator the reader is alive (kafkajs sends it only if the heartbeat interval passed): for
   * an `onBatch` that waits longer than the session timeout, so its private group does not drop it.
   */
  heartbeat: () => Promise<void>
}

export interface PartitionReaderOptions {
  /** The client whose connection and library (kafka.client) read. */
  kafka: KafkaClient
  /**
   * The library that reads, when not the client's. On platformatic the reader fetches by itself
   * (platformaticReader.ts) and `groupPrefix` names its client; on kafkajs it joins a private group (kafkajsReader.ts).
   */
  library?: KafkaClientName
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
  const { kafka, library, ...rest } = options
  if ((library ?? kafka.library) === 'platformatic') {
    const { groupPrefix, ...read } = rest
    return createPlatformaticReader({ ...read, connection: kafka.connection, clientId: `${groupPrefix}.reader` })
  }
  return createKafkajsReader({ ...rest, kafka: kafkajsOf(kafka) })
}
