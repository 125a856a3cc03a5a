/**
 * Checks of the journal itself, read back from Kafka:
 * - committed (read_committed), each marker resolved against the updates
 *   topic as the applier takes it (test/kit/markerReader.ts; a marker that
 *   does not resolve throws): group seqs 1, 2, ... each once, times
 *   strictly increasing, and no write (controller, seq) in two groups: a
 *   group journaled twice, or a write journaled twice, would be applied
 *   twice whatever the applier does;
 * - every attempt (read_uncommitted, with the producer id and epoch of each
 *   record's batch): for the transaction-timeout scenario, which shows the
 *   expired attempt of a group was written under one epoch, never
 *   committed, and the group committed under a later epoch.
 */
import type { KafkaClient, ReadRecord } from '../../../lib/kafka/index.js'
import { silentLogger } from '../../../lib/logger.js'
import { createPartitionReader } from '../../../lib/kafka/index.js'
import { waitFor } from '../../../lib/retry.js'
import { scanTopic } from '../../../lib/kafka/index.js'
import { createCodec } from '../../../schemas/codec.js'
import { JOURNAL_SCHEMA, type JournalRecord } from '../../../schemas/journal.js'
import { RECORD_SET_SCHEMA, type RecordSet } from '../../../schemas/recordSet.js'
import { HEADERS, sessionTopics, valueSubject } from '../../../schemas/topicNames.js'
import { type JournalEntry, resolveJournal } from '../../kit/markerReader.js'
import { uniqueName } from '../../kit/names.js'
import { registryAt } from '../../../schemas/registryClient.js'

export interface JournalReport {
  groups: number
  /** Groups whose seq is not the previous one + 1, or whose time does not advance. */
  outOfOrder: number
  /** Groups holding a write some earlier group holds, or a seq journaled before. */
  journaledTwice: number
  /** A few of the writes journaled twice, as controller:seq@groupSeq, for the failure message. */
  twiceSamples: string[]
  /** Committed journal offset of each group's marker (or last part, older format), by group seq. */
  lastPartOffset: Map<number, number>
}

/** Reads the journal `topic` (its markers resolved against the session's updates topic, blocks of `blockSize`). */
export async function checkJournal(
  kafka: KafkaClient,
  topic: string,
  registryUrl: string,
  blockSize: number,
): Promise<JournalReport> {
  const codec = await createCodec<JournalRecord>({
    registry: registryAt(registryUrl),
    subject: valueSubject(topic),
    schema: JOURNAL_SCHEMA,
  })
  const report: JournalReport = {
    groups: 0,
    outOfOrder: 0,
    journaledTwice: 0,
    twiceSamples: [],
    lastPartOffset: new Map(),
  }
  const writes = new Map<string, number>()
  const seqs = new Set<number>()
  let previous: { seq: number; time: number } | undefined
  let twiceInGroup = false
  const records: JournalEntry[] = []
  await scanTopic({
    kafka,
    topic,
    groupPrefix: uniqueName('journal-check'),
    logger: silentLogger,
    timeoutMs: 120_000,
    onMessage: async (m) =>
      void records.push({ offset: Number(m.offset), record: await codec.decode(m.value as Buffer) }),
  })
  const session = records[0]?.record.session
  if (session === undefined) return report
  const admin = kafka.admin()
  await admin.connect()
  let groups
  try {
    const updatesTopic = sessionTopics(session).updates
    groups = await resolveJournal({
      kafka,
      admin,
      updatesTopic,
      updatesCodec: await createCodec<RecordSet>({
        registry: registryAt(registryUrl),
        subject: valueSubject(updatesTopic),
        schema: RECORD_SET_SCHEMA,
      }),
      blockSize,
      entries: records,
    })
  } finally {
    await admin.disconnect()
  }
  for (const { journalOffset: offset, ...r } of groups) {
    for (const u of r.updates) {
      // a write of several blocks is several updates with one seq: a write of one block is (controller, seq, block)
      const key = `${u.controller}:${u.seq}:${u.volume}:${u.block}`
      const before = writes.get(key)
      if (before !== undefined) {
        twiceInGroup = true
        if (report.twiceSamples.length < 5) report.twiceSamples.push(`${key} in groups ${before} and ${r.groupSeq}`)
      }
      writes.set(key, r.groupSeq)
    }
    report.groups++
    report.lastPartOffset.set(r.groupSeq, offset)
    if (seqs.has(r.groupSeq) || twiceInGroup) report.journaledTwice++
    seqs.add(r.groupSeq)
    twiceInGroup = false
    if (previous !== undefined && (r.groupSeq !== previous.seq + 1 || r.groupTime <= previous.time)) report.outOfOrder++
    if (previous === undefined && r.groupSeq !== 1) report.outOfOrder++
    previous = { seq: r.groupSeq, time: r.groupTime }
  }
  return report
}

/** One journal record as written, committed or not. */
export interface JournalAttempt {
  offset: number
  groupSeq: number
  part: number
  parts: number
  producerId: string
  producerEpoch: number
}

/** Every journal record from `from` to the current end, aborted ones included, with its batch's producer id and epoch. */
export async function readJournalAttempts(kafka: KafkaClient, topic: string, from: number): Promise<JournalAttempt[]> {
  const admin = kafka.admin()
  await admin.connect()
  // the admin lists read_committed offsets: call with no transaction open (services stopped), when that is the high watermark
  const end = Number((await admin.fetchTopicOffsets(topic)).find((o) => o.partition === 0)?.offset ?? 0)
  await admin.disconnect()
  const out: JournalAttempt[] = []
  let position = from
  const reader = createPartitionReader({
    kafka,
    topic,
    from: new Map([[0, from]]),
    isolation: 'read_uncommitted',
    groupPrefix: uniqueName('journal-attempts'),
    logger: silentLogger,
    onPosition: (_p, next) => (position = Math.max(position, next)),
    onBatch: async (batch) => {
      for (const m of batch.messages) {
        const h = (name: string): number => Number(m.headers?.[name]?.toString())
        // kafkajs keeps the record batch's header on each message it decoded from it
        const ctx = (m as ReadRecord & { batchContext?: { producerId: string; producerEpoch: number } }).batchContext
        out.push({
          offset: Number(m.offset),
          groupSeq: h(HEADERS.groupSeq),
          part: h(HEADERS.part),
          parts: h(HEADERS.parts),
          producerId: String(ctx?.producerId),
          producerEpoch: Number(ctx?.producerEpoch),
        })
        position = Math.max(position, Number(m.offset) + 1)
      }
    },
  })
  await reader.start()
  try {
    await waitFor(`${topic} read from ${from} to ${end}`, () => (position >= end ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 20,
    })
  } finally {
    await reader.stop()
  }
  return out
}
