/**
 * The journal's last complete group, read with read_committed: where a
 * starting (or recovering) mover resumes. Only the group's last part is
 * decoded, since it alone carries the controller marks: a marker (part 0
 * of 1, schemas/markers.ts) is its group's last part, and so is the last
 * part of a group of the older format.
 *
 * Reads a window before the journal's end and widens it until a last part
 * is found: the tail is normally one group and its transaction marker, but
 * aborted transactions and many-part groups can push it further back.
 *
 * Call only after the journal writer claimed the transactional id: then no
 * transaction of the journal is open and its end is final while we read.
 */
import type { KafkaClient, ReadRecord } from '../../lib/kafka/index.js'
import { XrcError } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import { KAFKA_CALL_DEADLINE_MS, createPartitionReader, withinDeadline } from '../../lib/kafka/index.js'
import { settleWithin } from '../../lib/stage.js'
import { retry, waitFor } from '../../lib/retry.js'
import type { AvroCodec } from '../../schemas/codec.js'
import type { ControllerMark, JournalRecord } from '../../schemas/journal.js'
import { HEADERS } from '../../schemas/topicNames.js'

export interface JournalTail {
  groupSeq: number
  groupTime: number
  controllers: ControllerMark[]
  /** Journal offset of the group's last part. */
  offset: number
}

export interface JournalTailOptions {
  kafka: KafkaClient
  topic: string
  session: string
  codec: AvroCodec<JournalRecord>
  logger: Logger
  /** Prefix of the private reader groups. */
  groupPrefix: string
  /** Records read back from the end at first. */
  initialWindow?: number
  timeoutMs?: number
}

const header = (m: ReadRecord, name: string): string | undefined => m.headers?.[name]?.toString()

/** Whether a journal record is the last part of its group, from its headers (no decoding). */
function isLastPart(m: ReadRecord): boolean {
  const part = header(m, HEADERS.part)
  const parts = header(m, HEADERS.parts)
  return part !== undefined && parts !== undefined && Number(part) === Number(parts) - 1
}

/** The last complete group of the journal, or undefined when it holds none. */
export async function readJournalTail(options: JournalTailOptions): Promise<JournalTail | undefined> {
  const admin = options.kafka.admin()
  let low: number
  let end: number
  try {
    await withinDeadline(admin.connect(), KAFKA_CALL_DEADLINE_MS, `the connect of an admin client`)
    // the admin client lists offsets read_committed: the last stable offset
    const offsets = await withinDeadline(
      admin.fetchTopicOffsets(options.topic),
      KAFKA_CALL_DEADLINE_MS,
      `the offsets of ${options.topic}`,
    )
    const p = offsets.find((o) => o.partition === 0)
    low = Number(p?.low ?? 0)
    end = Number(p?.offset ?? 0)
  } finally {
    await settleWithin(admin.disconnect(), KAFKA_CALL_DEADLINE_MS)
  }
  for (let window = options.initialWindow ?? 64; ; window *= 4) {
    const from = Math.max(low, end - window)
    if (from >= end) return undefined
    const last = await lastPartIn(options, from, end)
    if (last !== undefined) return decodeTail(options, last)
    if (from === low) return undefined // only aborted transactions, or the start of the journal was deleted
  }
}

/** The last message of [from, end) whose headers say it ends a group. */
async function lastPartIn(options: JournalTailOptions, from: number, end: number): Promise<ReadRecord | undefined> {
  let found: ReadRecord | undefined
  let position = from
  let crashed: Error | undefined
  const reader = createPartitionReader({
    kafka: options.kafka,
    topic: options.topic,
    from: new Map([[0, from]]),
    isolation: 'read_committed',
    groupPrefix: options.groupPrefix,
    logger: options.logger,
    onCrash: (err) => (crashed = err),
    onPosition: (_partition, next) => (position = Math.max(position, next)),
    onBatch: async (batch) => {
      for (const m of batch.messages) {
        const offset = Number(m.offset)
        if (offset < end && isLastPart(m) && (found === undefined || offset > Number(found.offset))) found = m
        position = Math.max(position, offset + 1)
      }
    },
  })
  try {
    await reader.start()
    await waitFor(
      `the journal ${options.topic} read from offset ${from} to ${end}`,
      () => (position >= end ? true : undefined),
      {
        timeoutMs: options.timeoutMs ?? 60_000,
        intervalMs: 20,
        abortIf: () => (crashed ? `the reader failed: ${crashed.message}` : undefined),
      },
    )
  } finally {
    await reader.stop()
  }
  return found
}

async function decodeTail(options: JournalTailOptions, m: ReadRecord): Promise<JournalTail> {
  const offset = Number(m.offset)
  const context = { session: options.session, partition: 0, offset: m.offset }
  if (m.value === null) throw new XrcError('XRC_DECODE_FAILED', { reason: 'noJournalValue', ...context })
  const value = m.value
  // only the registry being out of reach is worth another try; a bad record never is
  const r = await retry(() => options.codec.decode(value), { attempts: 5, initialDelayMs: 200, maxDelayMs: 3000 })
  if (r.session !== options.session || r.part !== r.parts - 1 || r.controllers.length === 0) {
    throw new XrcError('XRC_INVALID_RECORD', {
      reason: 'notGroupEnd',
      ...context,
      recordSession: r.session,
      part: r.part,
      parts: r.parts,
      marks: r.controllers.length,
    })
  }
  return { groupSeq: r.groupSeq, groupTime: r.groupTime, controllers: r.controllers, offset }
}
