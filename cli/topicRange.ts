/**
 * Reads a range of a topic: each partition from a start offset up to an end
 * offset taken when the command began (or on and on with `follow`), through
 * the shared partition reader (a private single-member group; nothing is
 * committed). `xrc audit` and `xrc status` read the topics this way.
 */
import type { Admin, Kafka, KafkaMessage } from 'kafkajs'
import type { Logger } from '../lib/logger.js'
import { createPartitionReader } from '../lib/kafka/index.js'

export interface RangeOptions {
  kafka: Kafka
  topic: string
  /** First offset per partition; every partition of interest must be named. */
  from: ReadonlyMap<number, number>
  /** Offset to stop before, per partition; `follow` reads until `signal` aborts. */
  to: ReadonlyMap<number, number> | 'follow'
  isolation: 'read_committed' | 'read_uncommitted'
  logger: Logger
  /** Takes messages in offset order per partition; the next fetch waits for it. */
  onMessage: (partition: number, message: KafkaMessage) => Promise<void> | void
  signal?: AbortSignal
  /** Gives up (resolves with reachedEnd false) after this long; default: no bound. */
  timeoutMs?: number
}

/** Per partition: the earliest offset, and the end (for read_committed readers, the last stable offset). */
export async function partitionOffsets(
  admin: Admin,
  topic: string,
): Promise<Map<number, { low: number; high: number }>> {
  const offsets = await admin.fetchTopicOffsets(topic)
  return new Map(offsets.map((o) => [o.partition, { low: Number(o.low), high: Number(o.offset) }]))
}

/** Reads the range; resolves once every partition reached its end (true), or on abort or timeout (false). */
export async function readRange(options: RangeOptions): Promise<{ reachedEnd: boolean }> {
  const { to } = options
  const position = new Map(options.from)
  const pending = (): boolean => to === 'follow' || [...position].some(([p, at]) => at < (to.get(p) ?? 0))
  if (!pending()) return { reachedEnd: true }
  let finish!: (reachedEnd: boolean) => void
  const finished = new Promise<boolean>((resolve) => (finish = resolve))
  const reader = createPartitionReader({
    kafka: options.kafka,
    topic: options.topic,
    from: options.from,
    isolation: options.isolation,
    groupPrefix: 'xrc.cli',
    logger: options.logger,
    maxWaitTimeMs: 200,
    onCrash: () => finish(false),
    onPosition: (partition, next) => {
      if (next > (position.get(partition) ?? 0)) position.set(partition, next)
      if (!pending()) finish(true)
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
  const onAbort = (): void => finish(false)
  options.signal?.addEventListener('abort', onAbort, { once: true })
  // an abort before the listener is not replayed
  if (options.signal?.aborted) finish(false)
  const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => finish(false), options.timeoutMs)
  try {
    await reader.start()
    return { reachedEnd: await finished }
  } finally {
    if (timer) clearTimeout(timer)
    options.signal?.removeEventListener('abort', onAbort)
    await reader.stop()
  }
}

/** A record header as a string (kafkajs gives Buffers). */
export function headerString(message: KafkaMessage, name: string): string | undefined {
  const v = message.headers?.[name]
  if (v === undefined || v === null) return undefined
  return Array.isArray(v) ? String(v[v.length - 1]) : String(v)
}

/** A numeric record header, or undefined. */
export function headerNumber(message: KafkaMessage, name: string): number | undefined {
  const s = headerString(message, name)
  const n = s === undefined ? Number.NaN : Number(s)
  return Number.isFinite(n) ? n : undefined
}
