/**
 * The bounded topic reader: each partition of a topic from a start offset up
 * to an end offset (or on and on with `follow`), through the shared
 * partition reader (a private single-member group; nothing is committed).
 * `xrc audit` and `xrc status` read ranges; `scanTopic` reads one small
 * partition (the dead-letter and control topics) whole, at start-up and in
 * tools.
 *
 * The end of a range is what the broker reports when the read starts: for a
 * read_committed reader the last stable offset, for topics written without
 * transactions the high watermark.
 */
import type { KafkaAdmin, KafkaClient, ReadRecord } from './client/index.js'
import { XrcError } from '../errors.js'
import type { Logger } from '../logger.js'
import { createPartitionReader } from './client/partitionReader.js'

export interface RangeOptions {
  kafka: KafkaClient
  topic: string
  /** First offset per partition; every partition of interest must be named. */
  from: ReadonlyMap<number, number>
  /** Offset to stop before, per partition; `follow` reads until `signal` aborts. */
  to: ReadonlyMap<number, number> | 'follow'
  isolation: 'read_committed' | 'read_uncommitted'
  /** Prefix of the reader's private group id. */
  groupPrefix: string
  logger: Logger
  /** Takes messages in offset order per partition; the next fetch waits for it. */
  onMessage: (partition: number, message: ReadRecord) => Promise<void> | void
  signal?: AbortSignal
  /** Gives up (resolves with reachedEnd false) after this long; default: no bound. */
  timeoutMs?: number
}

export interface RangeResult {
  /** Every partition reached its end (false: aborted, timed out, or the reader failed). */
  reachedEnd: boolean
  /** Why the reader failed, when it did. */
  error?: Error
}

/** Per partition: the earliest offset, and the end (for read_committed readers, the last stable offset). */
export async function partitionOffsets(
  admin: KafkaAdmin,
  topic: string,
): Promise<Map<number, { low: number; high: number }>> {
  const offsets = await admin.fetchTopicOffsets(topic)
  return new Map(offsets.map((o) => [o.partition, { low: Number(o.low), high: Number(o.offset) }]))
}

/** Reads the range; resolves once every partition reached its end, or on abort, timeout or a reader failure. */
export async function readRange(options: RangeOptions): Promise<RangeResult> {
  const { to } = options
  const position = new Map(options.from)
  const pending = (): boolean => to === 'follow' || [...position].some(([p, at]) => at < (to.get(p) ?? 0))
  if (!pending()) return { reachedEnd: true }
  let finish!: (result: RangeResult) => void
  const finished = new Promise<RangeResult>((resolve) => (finish = resolve))
  const reader = createPartitionReader({
    kafka: options.kafka,
    topic: options.topic,
    from: options.from,
    isolation: options.isolation,
    groupPrefix: options.groupPrefix,
    logger: options.logger,
    maxWaitTimeMs: 200,
    onCrash: (error) => finish({ reachedEnd: false, error }),
    onPosition: (partition, next) => {
      if (next > (position.get(partition) ?? 0)) position.set(partition, next)
      if (!pending()) finish({ reachedEnd: true })
    },
    onBatch: async (batch) => {
      const end = to === 'follow' ? Number.POSITIVE_INFINITY : (to.get(batch.partition) ?? 0)
      for (const message of batch.messages) {
        if (options.signal?.aborted) return
        if (Number(message.offset) >= end) break
        await options.onMessage(batch.partition, message)
      }
    },
  })
  const onAbort = (): void => finish({ reachedEnd: false })
  options.signal?.addEventListener('abort', onAbort, { once: true })
  // an abort before the listener is not replayed
  if (options.signal?.aborted) finish({ reachedEnd: false })
  const timer =
    options.timeoutMs === undefined ? undefined : setTimeout(() => finish({ reachedEnd: false }), options.timeoutMs)
  try {
    await reader.start()
    return await finished
  } finally {
    if (timer) clearTimeout(timer)
    options.signal?.removeEventListener('abort', onAbort)
    await reader.stop()
  }
}

export interface TopicScanOptions {
  kafka: KafkaClient
  topic: string
  partition?: number
  /** First offset (default: the earliest retained). */
  from?: number
  groupPrefix: string
  logger: Logger
  onMessage: (message: ReadRecord) => void | Promise<void>
  /** Default 30 s. */
  timeoutMs?: number
}

/**
 * Reads one partition (default 0) from `from` to its end, read_committed;
 * resolves with that end (the offset after the last message read). Throws
 * XRC_TIMEOUT when the read does not get there in time or the reader fails.
 */
export async function scanTopic(options: TopicScanOptions): Promise<number> {
  const partition = options.partition ?? 0
  const admin = options.kafka.admin()
  await admin.connect()
  let offsets: Map<number, { low: number; high: number }>
  try {
    offsets = await partitionOffsets(admin, options.topic)
  } finally {
    await admin.disconnect()
  }
  const { low, high: end } = offsets.get(partition) ?? { low: 0, high: 0 }
  const from = Math.max(low, options.from ?? low)
  const timeoutMs = options.timeoutMs ?? 30_000
  const result = await readRange({
    kafka: options.kafka,
    topic: options.topic,
    from: new Map([[partition, from]]),
    to: new Map([[partition, end]]),
    isolation: 'read_committed',
    groupPrefix: options.groupPrefix,
    logger: options.logger,
    timeoutMs,
    onMessage: (_partition, message) => options.onMessage(message),
  })
  const what = `${options.topic} read from offset ${from} to ${end}`
  if (result.error !== undefined)
    throw new XrcError('XRC_TIMEOUT', { reason: 'readerFailed', what, cause: result.error })
  if (!result.reachedEnd) throw new XrcError('XRC_TIMEOUT', { timeoutMs, what })
  return end
}

/** A record header as a string (kafkajs gives Buffers). */
export function headerString(message: ReadRecord, name: string): string | undefined {
  const v = message.headers?.[name]
  if (v === undefined || v === null) return undefined
  return Array.isArray(v) ? String(v[v.length - 1]) : String(v)
}

/** A numeric record header, or undefined. */
export function headerNumber(message: ReadRecord, name: string): number | undefined {
  const s = headerString(message, name)
  const n = s === undefined ? Number.NaN : Number(s)
  return Number.isFinite(n) ? n : undefined
}
