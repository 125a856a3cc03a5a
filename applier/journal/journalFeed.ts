/**
 * The journal as a feed of whole consistency groups: reads the session's
 * journal topic (partition 0, read_committed, so parts of aborted
 * transactions never arrive) from an explicit offset through the shared
 * partition reader, decodes each record, joins parts into groups and hands
 * the whole groups of each fetched batch to `onGroups` at once, in journal
 * order (so the applier can apply several in one transaction). The next
 * fetch waits for `onGroups` (backpressure: a slow secondary holds one batch).
 *
 * Errors (a record that does not decode, parts that do not form a group, the
 * consumer giving up) go to `onError` once, and the feed takes no further
 * records: the caller halts; nothing is skipped.
 */
import type { KafkaClient, KafkaClientName } from '../../lib/kafka/index.js'
import { XrcError } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import { TopicOffsets, createPartitionReader, type PartitionReader } from '../../lib/kafka/index.js'
import type { AvroCodec } from '../../schemas/codec.js'
import type { JournalRecord } from '../../schemas/journal.js'
import { GroupAssembler, type AssembledGroup } from './groupAssembler.js'
import { decodeRidingOutages } from './registryDecode.js'

/** The journal has one partition. */
export const JOURNAL_PARTITION = 0

/**
 * Bytes of the journal fetched at once. Every record of a fetch is decoded,
 * announced and held until its group is applied, and a marker (some 700
 * bytes on the wire with its transaction's commit marker) costs a few KiB of
 * heap as a message with its headers, a decoded record and a group: with the
 * consumer's 4 MiB a late applier took in the whole backlog's markers at once
 * (thousands, more the longer the backlog, the idle groups cut while it
 * caught up included), so its memory grew with the backlog. 256 KiB is some
 * 400 markers, more than the updates reader prefetches (32) and a batch
 * takes (applier.maxBatchGroups, 64); a record larger than this (a group of
 * the older format) still comes whole (the broker returns the first record
 * batch of a fetch whatever its size).
 */
export const JOURNAL_FETCH_BYTES = 256 * 1024

export interface JournalFeedOptions {
  kafka: KafkaClient
  /** The library that reads (kafka.client); the client's own when unset. */
  library?: KafkaClientName
  topic: string
  /** First journal offset to read (the control table's offset + 1; 0 for an empty store). */
  fromOffset: number
  codec: AvroCodec<JournalRecord>
  logger: Logger
  /** Prefix of the reader's private consumer group. */
  groupPrefix: string
  /**
   * Sees each decoded record of a fetched batch, in order, before any group
   * of the batch goes to `onGroup`: how markers are announced ahead, so their
   * updates are read while the groups before them apply.
   */
  onRecord?: (record: JournalRecord, offset: number) => void
  /**
   * Takes the whole groups of a fetched batch (at least one), in journal
   * order; resolves false to take no more (the feed goes idle until stopped).
   * One that waits long (a delayed secondary) calls `keepAlive` now and then
   * (within the reader's 30 s session timeout), so the reader keeps its place.
   */
  onGroups: (groups: readonly AssembledGroup[], keepAlive: () => Promise<void>) => Promise<boolean>
  /** The first error that stops the feed, with the journal offset it concerns (absent: the consumer failed). */
  onError: (err: unknown, offset?: number) => void
  /** A decode that failed because the registry is out of reach, retried as long as it lasts. */
  onRetry?: (err: unknown) => void
}

export interface JournalFeed {
  start(): Promise<void>
  stop(): Promise<void>
  /**
   * The next journal offset the feed will read: every committed record below
   * it was handed on (or was a transaction marker or an aborted record).
   */
  position(): number
  /** The journal's end for read_committed readers (its last stable offset), asked of the broker now. */
  endOffset(): Promise<number>
}

export function createJournalFeed(options: JournalFeedOptions): JournalFeed {
  const assembler = new GroupAssembler()
  let position = options.fromOffset
  // highest offset taken: a record at or below it is a re-delivery (kafkajs
  // restarts a crashed consumer from the private group's start) and was handled
  let lastTaken = options.fromOffset - 1
  let accepting = true
  const offsets = new TopicOffsets(options.kafka, options.topic)
  let reader: PartitionReader | undefined
  const stopping = new AbortController()

  function fail(err: unknown, offset?: number): void {
    if (!accepting) return
    accepting = false
    options.onError(err, offset)
  }

  async function decode(value: Buffer | null, offset: number): Promise<JournalRecord> {
    if (value === null) throw new XrcError('XRC_DECODE_FAILED', { reason: 'noJournalValue', offset: String(offset) })
    // only the registry being out of reach is worth another try (as long as it lasts); a bad record never is
    return decodeRidingOutages(() => options.codec.decode(value), {
      signal: stopping.signal,
      ...(options.onRetry ? { onRetry: options.onRetry } : {}),
    })
  }

  return {
    async start() {
      reader = createPartitionReader({
        library: options.library,
        kafka: options.kafka,
        topic: options.topic,
        from: new Map([[JOURNAL_PARTITION, options.fromOffset]]),
        isolation: 'read_committed',
        groupPrefix: options.groupPrefix,
        logger: options.logger,
        maxBytesPerPartition: JOURNAL_FETCH_BYTES,
        onCrash: (err) => fail(err),
        onPosition: (partition, next) => {
          if (partition === JOURNAL_PARTITION && next > position) position = next
        },
        onBatch: async (batch) => {
          // decode the batch first (records up to the first that fails), so onRecord sees what comes
          const decoded: { record: JournalRecord; offset: number }[] = []
          let failure: { err: unknown; offset: number } | undefined
          for (const message of batch.messages) {
            const offset = Number(message.offset)
            if (offset <= lastTaken || !accepting) continue
            try {
              decoded.push({ record: await decode(message.value, offset), offset })
            } catch (err) {
              failure = { err, offset }
              break
            }
          }
          for (const { record, offset } of decoded) options.onRecord?.(record, offset)
          // the batch's whole groups, up to a record that does not join (its groups before it still go on)
          const groups: AssembledGroup[] = []
          for (const { record, offset } of decoded) {
            try {
              lastTaken = offset
              const assembled = assembler.push(record, offset)
              if (assembled !== undefined) groups.push(assembled)
            } catch (err) {
              failure = { err, offset }
              break
            }
          }
          try {
            if (groups.length > 0 && accepting && !(await options.onGroups(groups, batch.heartbeat))) {
              accepting = false
              return
            }
          } catch (err) {
            fail(err, groups[0]?.lastOffset)
            return
          }
          if (failure !== undefined) fail(failure.err, failure.offset)
        },
      })
      await reader.start()
    },

    async stop() {
      accepting = false
      stopping.abort()
      await reader?.stop()
      await offsets.close()
    },

    position: () => position,

    async endOffset() {
      // the admin client lists offsets read_committed: the last stable offset
      const p = (await offsets.fetch()).find((o) => o.partition === JOURNAL_PARTITION)
      return p === undefined ? 0 : Number(p.offset)
    },
  }
}
