/**
 * The session's dead-letter topic (`xrc.<session>.dlq`, one partition):
 * every record of the updates topic the mover could not take, as it was
 * (value and headers), with the reason in headers:
 *
 *   xrc.dlq.topic, xrc.dlq.partition, xrc.dlq.offset   where it was read
 *   xrc.dlq.error-code, xrc.dlq.error-message          why (lib/errors.ts)
 *   __connect.errors.*                                 the same as Kafka Connect's dead-letter
 *                                                      queue writes them (connectHeaders.ts)
 *   xrc.dlq.action                                     what the mover did:
 *     skipped  not part of its partition's stream (undecodable, another
 *              controller's): set aside, the stream goes on; if it was
 *              the stream's, the next record shows a seq gap
 *     dropped  a duplicate of seqs already taken: set aside, harmless
 *     frozen   the controller's stream is broken here: the controller is
 *              frozen at this record until an operator resumes it
 * key: "<partition>:<offset>" of the source record.
 *
 * Delivery is at least once: a mover restarted from the journal may meet a
 * record again and dead-letter it again (same key); readers count distinct
 * keys. Within one mover process a record is dead-lettered once.
 */
import type { ErrorCode } from '../../lib/errors.js'
import { XrcError } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import {
  type IdempotentProducer,
  type KafkaClient,
  type RecordHeaders,
  connectIdempotentProducer,
  producibleHeaders,
  scanTopic,
  sendWhole,
} from '../../lib/kafka/index.js'
import {
  KAFKA_CALL_DEADLINE_MS,
  deadLetterTopicSpec,
  ensureTopic,
  withinDeadline,
  type TopicReplication,
} from '../../lib/kafka/index.js'
import { HEADERS } from '../../schemas/topicNames.js'
import { CONNECT_HEADER_PREFIX, connectErrorHeaders } from './connectHeaders.js'

export type DeadLetterAction = 'skipped' | 'dropped' | 'frozen'

/** A record to set aside. */
export interface DeadLetter {
  partition: number
  offset: number
  value: Buffer | null
  headers: RecordHeaders | undefined
  code: ErrorCode
  message: string
  action: DeadLetterAction
}

export interface DeadLetterWriter {
  /** Creates the topic when missing and connects. */
  open(): Promise<void>
  /**
   * Resolves once the record is on the topic (acks -1): true, or false for a
   * record this writer wrote before (not written again). Throws
   * XRC_KAFKA_UNREACHABLE.
   */
  write(letter: DeadLetter): Promise<boolean>
  /** Forgets records of `partition` below `offset` (a restart never reads them again): bounded memory. */
  forgetBelow(partition: number, offset: number): void
  close(): Promise<void>
}

export interface DeadLetterWriterOptions {
  kafka: KafkaClient
  session: string
  topic: string
  sourceTopic: string
  /** mover.maxRecordSetBytes: a longer value is left out (its size is in the message). */
  maxRecordSetBytes: number
  /** topics.*: replication of the topic when created here (unset: the cluster's defaults). */
  replication?: TopicReplication
  logger: Logger
}

export function createDeadLetterWriter(options: DeadLetterWriterOptions): DeadLetterWriter {
  const log = options.logger.child({ component: 'dead-letters', topic: options.topic })
  const written = new Map<number, Set<number>>()
  let producer: IdempotentProducer | undefined

  return {
    async open() {
      const admin = options.kafka.admin()
      await admin.connect()
      try {
        await ensureTopic(
          admin,
          deadLetterTopicSpec(options.topic, options.maxRecordSetBytes),
          log,
          options.replication,
        )
      } finally {
        await admin.disconnect()
      }
      producer = await connectIdempotentProducer(options.kafka, { retries: 5 })
    },

    async write(letter) {
      const seen = written.get(letter.partition) ?? new Set<number>()
      if (seen.has(letter.offset)) return false
      if (producer === undefined)
        throw new XrcError('XRC_CLOSED', { reason: 'notOpen', component: 'the dead-letter writer' })
      const tooLong = letter.value !== null && letter.value.length > options.maxRecordSetBytes
      const message = tooLong ? `${letter.message} (value of ${letter.value?.length} bytes left out)` : letter.message
      // header values are bytes: keep the message whole but bounded
      const boundedMessage = message.slice(0, 4000)
      const headers = {
        ...producibleHeaders(letter.headers),
        [HEADERS.session]: options.session,
        [HEADERS.sourceTopic]: options.sourceTopic,
        [HEADERS.sourcePartition]: String(letter.partition),
        [HEADERS.sourceOffset]: String(letter.offset),
        [HEADERS.errorCode]: letter.code,
        [HEADERS.errorMessage]: boundedMessage,
        [HEADERS.deadLetterAction]: letter.action,
        ...connectErrorHeaders({
          session: options.session,
          topic: options.sourceTopic,
          partition: letter.partition,
          offset: letter.offset,
          code: letter.code,
          message: boundedMessage,
        }),
      }
      try {
        const sent = sendWhole(producer, options.topic, [
          { partition: 0, key: `${letter.partition}:${letter.offset}`, value: tooLong ? null : letter.value, headers },
        ])
        await withinDeadline(sent, KAFKA_CALL_DEADLINE_MS, `the dead letter of offset ${letter.offset}`)
      } catch (err) {
        throw new XrcError('XRC_KAFKA_UNREACHABLE', {
          reason: 'deadLetter',
          topic: options.sourceTopic,
          partition: letter.partition,
          offset: String(letter.offset),
          cause: err,
        })
      }
      seen.add(letter.offset)
      written.set(letter.partition, seen)
      log.warn(
        { partition: letter.partition, offset: letter.offset, code: letter.code, action: letter.action },
        `dead-lettered: ${letter.message}`,
      )
      return true
    },

    forgetBelow(partition, offset) {
      const seen = written.get(partition)
      if (seen === undefined) return
      for (const o of seen) if (o < offset) seen.delete(o)
    },

    async close() {
      const p = producer
      producer = undefined
      await p?.close().catch((err: unknown) => log.warn({ err }, 'disconnecting the dead-letter producer failed'))
    },
  }
}

/** One dead-lettered record as read back. */
export interface DeadLetterEntry {
  /** Offset in the dead-letter topic. */
  offset: number
  timestamp: string
  sourceTopic: string
  sourcePartition: number
  sourceOffset: number
  code: string
  message: string
  action: DeadLetterAction | string
  /** Bytes of the source record's value (0 when it had none or it was left out). */
  valueBytes: number
  /** The controller its headers name, when they do. */
  controller: number | undefined
  /** Its Kafka Connect headers (`__connect.errors.*`, connectHeaders.ts) by name, when it has them. */
  connect?: Record<string, string>
}

/** Counts by error code over distinct source records (a record dead-lettered twice counts once). */
export interface DeadLetterSummary {
  records: number
  byCode: Record<string, number>
  byAction: Record<string, number>
  /** Per updates partition, the last record its controller froze at (what `xrc session resume` resumes). */
  lastFrozen: Record<string, DeadLetterEntry>
}

/** Reads a session's dead-letter topic whole (it is small: bad input is rare). */
export async function readDeadLetters(options: {
  kafka: KafkaClient
  topic: string
  logger: Logger
  groupPrefix: string
}): Promise<DeadLetterEntry[]> {
  const admin = options.kafka.admin()
  await admin.connect()
  try {
    if (!(await admin.listTopics()).includes(options.topic)) return []
  } finally {
    await admin.disconnect()
  }
  const entries: DeadLetterEntry[] = []
  await scanTopic({
    kafka: options.kafka,
    topic: options.topic,
    groupPrefix: options.groupPrefix,
    logger: options.logger,
    onMessage: (m) => {
      const h = (name: string): string => m.headers?.[name]?.toString() ?? ''
      const controller = m.headers?.[HEADERS.controller] === undefined ? undefined : Number(h(HEADERS.controller))
      const connect = Object.keys(m.headers ?? {}).filter((name) => name.startsWith(CONNECT_HEADER_PREFIX))
      entries.push({
        offset: Number(m.offset),
        timestamp: new Date(Number(m.timestamp)).toISOString(),
        sourceTopic: h(HEADERS.sourceTopic),
        sourcePartition: Number(h(HEADERS.sourcePartition)),
        sourceOffset: Number(h(HEADERS.sourceOffset)),
        code: h(HEADERS.errorCode),
        message: h(HEADERS.errorMessage),
        action: h(HEADERS.deadLetterAction),
        valueBytes: m.value?.length ?? 0,
        controller: Number.isSafeInteger(controller) ? controller : undefined,
        ...(connect.length > 0 ? { connect: Object.fromEntries(connect.map((name) => [name, h(name)])) } : {}),
      })
    },
  })
  return entries
}

/** Sums dead-letter entries over distinct source records. */
export function summarizeDeadLetters(entries: readonly DeadLetterEntry[]): DeadLetterSummary {
  const distinct = new Map<string, DeadLetterEntry>()
  for (const e of entries) distinct.set(`${e.sourceTopic}:${e.sourcePartition}:${e.sourceOffset}`, e)
  const byCode: Record<string, number> = {}
  const byAction: Record<string, number> = {}
  const lastFrozen: Record<string, DeadLetterEntry> = {}
  for (const e of distinct.values()) {
    byCode[e.code] = (byCode[e.code] ?? 0) + 1
    byAction[e.action] = (byAction[e.action] ?? 0) + 1
    const key = String(e.sourcePartition)
    if (
      e.action === 'frozen' &&
      (lastFrozen[key] === undefined || e.sourceOffset > (lastFrozen[key] as DeadLetterEntry).sourceOffset)
    )
      lastFrozen[key] = e
  }
  return { records: distinct.size, byCode, byAction, lastFrozen }
}
