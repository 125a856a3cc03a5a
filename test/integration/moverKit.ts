/**
 * Test kit of the mover's integration tests: a private session (own updates
 * and journal topics, subjects and mover group), scripted controllers that
 * make record sets by hand (the shared clock, seqs, heartbeats), a producer
 * of them in the wire format with their headers, a read_committed reader of
 * the journal whose markers are resolved against the updates topic
 * (test/kit/markerReader.ts), and the model the journal is checked against.
 */
import type { Producer } from 'kafkajs'
import type { KafkaAdmin, KafkaClient } from '../../lib/kafka/index.js'
import { expect } from 'vitest'
import { loadConfig, type Config } from '../../lib/config.js'
import { silentLogger } from '../../lib/logger.js'
import { createPartitionReader } from '../../lib/kafka/index.js'
import { waitFor } from '../../lib/retry.js'
import { createCodec, type AvroCodec } from '../../schemas/codec.js'
import { JOURNAL_SCHEMA, type ConsistencyGroup, type JournalRecord } from '../../schemas/journal.js'
import { RECORD_SET_SCHEMA, type RecordSet, type Update } from '../../schemas/recordSet.js'
import { moverGroupId, sessionTopics, valueSubject } from '../../schemas/topicNames.js'
import { uniqueName } from '../kit/names.js'
import { type JournalEntry, type ResolvedGroup, resolveJournal } from '../kit/markerReader.js'
import { deleteSubject, stackInfo } from '../kit/servers.js'
import { recordSetHeaders } from '../../schemas/recordSet.js'
import { registryAt } from '../../schemas/registryClient.js'
import { kafkajsOf } from '../../lib/kafka/client/kafkaClient.js'

export const BLOCK = 512
export const CONTROLLERS = [0, 1, 2]
const VOLUME_BLOCKS = 64
export const volumeOf = (controller: number, i = 0): string => `c${controller}v${i}`

export interface MoverSession {
  session: string
  config: Config
  topics: ReturnType<typeof sessionTopics>
  codec: AvroCodec<RecordSet>
  journalCodec: AvroCodec<JournalRecord>
  producer: Producer
  controllers: ScriptedControllers
  /**
   * Sends record sets, each to its controller's partition, with the header fields as Kafka headers; `sentAt`
   * gives a controller's Kafka timestamp (its host's clock at the send, ms; default: the producer's own).
   */
  send(recordSets: RecordSet[], sentAt?: (controller: number) => number | undefined): Promise<void>
  /** Sends raw values (garbage) to a partition. */
  sendRaw(partition: number, value: Buffer): Promise<void>
  cleanup(): Promise<void>
}

/** A session of three controllers (two volumes each) with its updates topic created; `mover` overrides mover settings. */
export async function moverSession(
  kafka: KafkaClient,
  admin: KafkaAdmin,
  overrides: { mover?: Record<string, unknown>; blockSize?: number } = {},
): Promise<MoverSession> {
  const session = uniqueName('mv')
  const topics = sessionTopics(session)
  const blockSize = overrides.blockSize ?? BLOCK
  const config = loadConfig({
    overrides: {
      kafka: { brokers: stackInfo().kafkaBrokers },
      schemaRegistry: { url: stackInfo().registryUrl },
      log: { level: 'silent' },
      session: {
        name: session,
        blockSize,
        controllers: CONTROLLERS.map((id) => ({
          id,
          volumes: [0, 1].map((i) => ({ name: volumeOf(id, i), blocks: VOLUME_BLOCKS })),
        })),
      },
      mover: { groupIntervalMs: 40, ...overrides.mover },
    },
  })
  await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic: topics.updates, numPartitions: CONTROLLERS.length }],
  })
  const registryUrl = stackInfo().registryUrl
  const codec = await createCodec<RecordSet>({
    registry: registryAt(registryUrl),
    subject: valueSubject(topics.updates),
    schema: RECORD_SET_SCHEMA,
  })
  const journalCodec = await createCodec<JournalRecord>({
    registry: registryAt(registryUrl),
    subject: valueSubject(topics.journal),
    schema: JOURNAL_SCHEMA,
  })
  const producer = kafkajsOf(kafka).producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  return {
    session,
    config,
    topics,
    codec,
    journalCodec,
    producer,
    controllers: new ScriptedControllers(session, blockSize),
    async send(recordSets, sentAt) {
      await producer.send({
        topic: topics.updates,
        acks: -1,
        messages: recordSets.map((rs) => {
          const at = sentAt?.(rs.controller)
          return {
            partition: rs.controller,
            key: String(rs.controller),
            value: codec.encode(rs),
            headers: recordSetHeaders(rs),
            ...(at === undefined ? {} : { timestamp: String(at) }),
          }
        }),
      })
    },
    async sendRaw(partition, value) {
      await producer.send({ topic: topics.updates, acks: -1, messages: [{ partition, value }] })
    },
    async cleanup() {
      await producer.disconnect()
      const existing = new Set(await admin.listTopics())
      await admin.deleteTopics({
        topics: [topics.updates, topics.journal, topics.deadLetter, topics.control].filter((t) => existing.has(t)),
      })
      await admin.deleteGroups([moverGroupId(session)]).catch(() => undefined) // absent when no group was journaled
      await deleteSubject(valueSubject(topics.updates))
      await deleteSubject(valueSubject(topics.journal))
    },
  }
}

/** One host write as the model sees it. */
export interface Write {
  id: number
  controller: number
  seq: number
  time: number
  volume: string
  block: number
  blocks: number
}

/** Controllers of one session clock: strictly increasing times, seqs from 1, block data naming its write. */
export class ScriptedControllers {
  readonly writes: Write[] = []
  private clock = Date.now() * 1000
  private readonly nextSeq = new Map<number, number>()

  constructor(
    private readonly session: string,
    private readonly blockSize: number,
  ) {}

  /** A record set of writes of `controller`: each [volume index, block, blocks]. */
  updates(controller: number, specs: [number, number, number][]): RecordSet {
    const updates: Update[] = specs.map(([v, block, blocks]) => {
      const seq = this.nextSeq.get(controller) ?? 1
      this.nextSeq.set(controller, seq + 1)
      const w: Write = {
        id: this.writes.length + 1,
        controller,
        seq,
        time: ++this.clock,
        volume: volumeOf(controller, v),
        block,
        blocks,
      }
      this.writes.push(w)
      const data = Buffer.alloc(blocks * this.blockSize, w.id & 0xff)
      for (let i = 0; i < blocks; i++) data.writeUInt32BE(w.id, i * this.blockSize)
      return { seq, time: w.time, volume: w.volume, block, data }
    })
    const first = updates[0] as Update
    const last = updates[updates.length - 1] as Update
    return {
      session: this.session,
      controller,
      kind: 'UPDATES',
      firstSeq: first.seq,
      lastSeq: last.seq,
      minTime: first.time,
      maxTime: last.time,
      updates,
    }
  }

  heartbeat(controller: number): RecordSet {
    const next = this.nextSeq.get(controller) ?? 1
    const t = ++this.clock
    return {
      session: this.session,
      controller,
      kind: 'HEARTBEAT',
      firstSeq: next,
      lastSeq: next - 1,
      minTime: t,
      maxTime: t,
      updates: [],
    }
  }

  heartbeats(): RecordSet[] {
    return CONTROLLERS.map((c) => this.heartbeat(c))
  }

  /**
   * A record set of `controller` at its next seq that the model does not
   * count (bad input: a forged or broken record), changed by `mutate`; the
   * controller's seq does not advance.
   */
  forge(controller: number, mutate: (rs: RecordSet) => RecordSet): RecordSet {
    const seq = this.nextSeq.get(controller) ?? 1
    const t = ++this.clock
    const rs: RecordSet = {
      session: this.session,
      controller,
      kind: 'UPDATES',
      firstSeq: seq,
      lastSeq: seq,
      minTime: t,
      maxTime: t,
      updates: [{ seq, time: t, volume: volumeOf(controller), block: 0, data: Buffer.alloc(this.blockSize, 0xee) }],
    }
    return mutate(rs)
  }

  /** Skips seqs of a controller (to make a gap). */
  skip(controller: number, count: number): void {
    this.nextSeq.set(controller, (this.nextSeq.get(controller) ?? 1) + count)
  }

  /** The latest time issued. */
  now(): number {
    return this.clock
  }
}

export type { JournalEntry }

/** Every committed journal record, read with read_committed up to the journal's end. */
export async function readJournal(
  kafka: KafkaClient,
  admin: KafkaAdmin,
  topic: string,
  codec: AvroCodec<JournalRecord>,
): Promise<JournalEntry[]> {
  const end = Number((await admin.fetchTopicOffsets(topic)).find((o) => o.partition === 0)?.offset ?? 0)
  const entries: JournalEntry[] = []
  if (end === 0) return entries
  let position = 0
  const reader = createPartitionReader({
    kafka,
    topic,
    isolation: 'read_committed',
    groupPrefix: uniqueName('journal-check'),
    logger: silentLogger,
    onPosition: (_p, next) => (position = Math.max(position, next)),
    onBatch: async (batch) => {
      for (const m of batch.messages)
        entries.push({ offset: Number(m.offset), record: await codec.decode(m.value as Buffer) })
    },
  })
  await reader.start()
  try {
    await waitFor(`journal ${topic} read to ${end}`, () => (position >= end ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 20,
    })
  } finally {
    await reader.stop()
  }
  return entries
}

/**
 * The session's journal read back as groups: markers resolved against the
 * updates topic (test/kit/markerReader.ts), so each group holds the updates
 * the applier would take; every journal record must be a marker (the mover
 * writes nothing else).
 */
export async function readGroups(
  kafka: KafkaClient,
  admin: KafkaAdmin,
  s: Pick<MoverSession, 'topics' | 'codec' | 'journalCodec' | 'config'>,
): Promise<ResolvedGroup[]> {
  const entries = await readJournal(kafka, admin, s.topics.journal, s.journalCodec)
  const groups = await resolveJournal({
    kafka,
    admin,
    updatesTopic: s.topics.updates,
    updatesCodec: s.codec,
    blockSize: s.config.session.blockSize,
    entries,
  })
  expect(groups.filter((g) => !g.marker).map((g) => g.groupSeq)).toEqual([])
  return groups
}

/** Writes with lo < time <= hi, in (time, controller, seq) order, one per block, last writer wins: as [controller, seq, volume, block, write id]. */
function model(writes: Write[], lo: number, hi: number): [number, number, string, number, number][] {
  const byBlock = new Map<string, [number, number, string, number, number]>()
  for (const w of writes
    .filter((x) => x.time > lo && x.time <= hi)
    .sort((a, b) => a.time - b.time || a.controller - b.controller || a.seq - b.seq)) {
    for (let i = 0; i < w.blocks; i++) {
      byBlock.delete(`${w.volume}/${w.block + i}`)
      byBlock.set(`${w.volume}/${w.block + i}`, [w.controller, w.seq, w.volume, w.block + i, w.id])
    }
  }
  return [...byBlock.values()]
}

/**
 * The journal is exactly the model: groupSeq 1, 2, 3, ... contiguous, T
 * strictly increasing, each group holding exactly the writes in (previous T,
 * T] in order with the last writer of each block, and the last group at or
 * past `finalTime` (every write up to it journaled once).
 */
export function expectJournalMatches(groups: ConsistencyGroup[], writes: Write[], finalTime: number): void {
  let lo = Number.NEGATIVE_INFINITY
  groups.forEach((g, i) => {
    expect(g.groupSeq).toBe(i + 1)
    expect(g.groupTime).toBeGreaterThan(lo)
    const got = g.updates.map((u) => [u.controller, u.seq, u.volume, u.block, u.data.readUInt32BE(0)])
    expect(got, `group ${g.groupSeq} (T=${g.groupTime})`).toEqual(model(writes, lo, g.groupTime))
    lo = g.groupTime
  })
  expect(lo).toBeGreaterThanOrEqual(finalTime)
}
