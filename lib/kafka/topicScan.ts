/**
 * Reads one partition of a small topic from an offset to its end as the
 * broker reports it when the scan starts (the last stable offset: what a
 * read_committed reader can reach, and the high watermark for topics
 * written without transactions). For the dead-letter and control topics,
 * read whole by tools and at start-up.
 */
import type { Kafka, KafkaMessage } from 'kafkajs'
import type { Logger } from '../logger.js'
import { createPartitionReader } from './partitionReader.js'
import { waitFor } from '../retry.js'

export interface TopicScanOptions {
  kafka: Kafka
  topic: string
  partition?: number
  /** First offset (default: the earliest retained). */
  from?: number
  groupPrefix: string
  logger: Logger
  onMessage: (message: KafkaMessage) => void | Promise<void>
  timeoutMs?: number
}

/** Scans to the end; resolves with the offset after the last message read (the end). */
export async function scanTopic(options: TopicScanOptions): Promise<number> {
  const partition = options.partition ?? 0
  const admin = options.kafka.admin()
  await admin.connect()
  let low: number
  let end: number
  try {
    const p = (await admin.fetchTopicOffsets(options.topic)).find((o) => o.partition === partition)
    low = Number(p?.low ?? 0)
    end = Number(p?.offset ?? 0)
  } finally {
    await admin.disconnect()
  }
  const from = Math.max(low, options.from ?? low)
  if (from >= end) return end
  let position = from
  let crashed: Error | undefined
  const reader = createPartitionReader({
    kafka: options.kafka,
    topic: options.topic,
    from: new Map([[partition, from]]),
    isolation: 'read_committed',
    groupPrefix: options.groupPrefix,
    logger: options.logger,
    onCrash: (err) => (crashed = err),
    onPosition: (p, next) => {
      if (p === partition) position = Math.max(position, next)
    },
    onBatch: async (batch) => {
      if (batch.partition !== partition) return
      for (const m of batch.messages) {
        const offset = Number(m.offset)
        if (offset >= end) break
        await options.onMessage(m)
        position = Math.max(position, offset + 1)
      }
    },
  })
  try {
    await reader.start()
    await waitFor(`${options.topic} read from offset ${from} to ${end}`, () => (position >= end ? true : undefined), {
      timeoutMs: options.timeoutMs ?? 30_000,
      intervalMs: 20,
      abortIf: () => (crashed ? `the reader failed: ${crashed.message}` : undefined),
    })
  } finally {
    await reader.stop()
  }
  return end
}
