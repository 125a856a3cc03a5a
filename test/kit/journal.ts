/**
 * A session journal written by hand, for tests of its readers: its own
 * topic and registry subject, a transactional producer (commit or abort),
 * groups split into parts, and a model of the image the groups make.
 */
import { randomBytes } from 'node:crypto'
import type { Admin, Kafka, Producer } from 'kafkajs'
import { loadConfig, type Config } from '../../lib/config.js'
import { waitFor } from '../../lib/retry.js'
import { createCodec, type AvroCodec } from '../../schemas/codec.js'
import { JOURNAL_SCHEMA, type ConsistencyGroup, type JournalRecord, type JournalUpdate } from '../../schemas/journal.js'
import { HEADERS, sessionTopics, valueSubject } from '../../schemas/topicNames.js'
import { uniqueName } from './names.js'
import { createTestTopics, deleteSubject, stackInfo } from './servers.js'

export interface TestJournal {
  session: string
  topic: string
  codec: AvroCodec<JournalRecord>
  /** Writes records in one Kafka transaction, committed or aborted. */
  write(records: JournalRecord[], options?: { abort?: boolean }): Promise<void>
  /** Writes raw values (say, garbage) in one committed transaction. */
  writeRaw(values: Buffer[]): Promise<void>
  cleanup(): Promise<void>
}

/** Creates a session's journal topic and subject and a transactional producer for it. */
export async function createTestJournal(kafka: Kafka, admin: Admin, session = uniqueName('s')): Promise<TestJournal> {
  const topic = sessionTopics(session).journal
  const dropTopics = await createTestTopics(admin, [{ topic }])
  const codec = await createCodec<JournalRecord>({
    registryUrl: stackInfo().registryUrl,
    subject: valueSubject(topic),
    schema: JOURNAL_SCHEMA,
  })
  const producer: Producer = kafka.producer({
    transactionalId: uniqueName('tx'),
    idempotent: true,
    maxInFlightRequests: 1,
  })
  await producer.connect()
  /**
   * One transaction, then waits until read_committed readers see its end:
   * commit() returns before the broker has written the transaction markers,
   * and until then the last stable offset (a reader's "end") excludes it.
   */
  async function send(messages: { value: Buffer; headers?: Record<string, string> }[], abort: boolean): Promise<void> {
    const tx = await producer.transaction()
    let baseOffset: number
    try {
      const [meta] = await tx.send({ topic, acks: -1, messages })
      baseOffset = Number(meta?.baseOffset)
    } catch (err) {
      await tx.abort()
      throw err
    }
    await (abort ? tx.abort() : tx.commit())
    const marker = baseOffset + messages.length
    await waitFor(
      `the transaction marker at ${topic} offset ${marker}`,
      async () =>
        Number((await admin.fetchTopicOffsets(topic)).find((o) => o.partition === 0)?.offset) > marker
          ? true
          : undefined,
      { timeoutMs: 30_000, intervalMs: 10 },
    )
  }
  return {
    session,
    topic,
    codec,
    write: (records, options = {}) =>
      send(
        records.map((r) => ({
          value: codec.encode(r),
          headers: {
            [HEADERS.groupSeq]: String(r.groupSeq),
            [HEADERS.groupTime]: String(r.groupTime),
            [HEADERS.part]: String(r.part),
            [HEADERS.parts]: String(r.parts),
          },
        })),
        options.abort ?? false,
      ),
    writeRaw: (values) =>
      send(
        values.map((value) => ({ value })),
        false,
      ),
    async cleanup() {
      await producer.disconnect()
      await dropTopics()
      await deleteSubject(valueSubject(topic))
      // an applier of the session publishes what it applied (schemas/appliedState.ts)
      const applied = sessionTopics(session).applied
      if ((await admin.listTopics()).includes(applied)) await admin.deleteTopics({ topics: [applied] })
      await deleteSubject(valueSubject(applied))
    },
  }
}

/** The volumes every journal test uses: small, two of them. */
export const TEST_VOLUMES = [
  { name: 'va', blocks: 64 },
  { name: 'vb', blocks: 48 },
] as const

export const TEST_BLOCK_SIZE = 4096

/** A config for `session` against the test stack, its secondary in `schema`. */
export function testConfig(session: string, schema: string): Config {
  const stack = stackInfo()
  return loadConfig({
    overrides: {
      kafka: { brokers: stack.kafkaBrokers },
      schemaRegistry: { url: stack.registryUrl },
      database: { url: stack.databaseUrl },
      log: { level: 'silent' },
      session: {
        name: session,
        blockSize: TEST_BLOCK_SIZE,
        controllers: [{ id: 0, volumes: TEST_VOLUMES.map((v) => ({ ...v })) }],
      },
      applier: { schema },
    },
  })
}

/**
 * `count` groups of random updates (distinct blocks per group, blocks
 * overwritten across groups), seq 1.., times strictly increasing.
 */
export function randomGroups(
  session: string,
  count: number,
  options: { maxUpdates?: number; firstSeq?: number; startTime?: number } = {},
): ConsistencyGroup[] {
  const groups: ConsistencyGroup[] = []
  let time = options.startTime ?? Date.now() * 1000
  let seq = 0
  for (let i = 0; i < count; i++) {
    time += 1 + Math.floor(Math.random() * 5000)
    const updates: JournalUpdate[] = []
    const n = Math.floor(Math.random() * (options.maxUpdates ?? 12)) + (i === 0 ? 1 : 0)
    const used = new Set<string>()
    for (let k = 0; k < n; k++) {
      const v = TEST_VOLUMES[Math.floor(Math.random() * TEST_VOLUMES.length)] ?? TEST_VOLUMES[0]
      const block = Math.floor(Math.random() * v.blocks)
      if (used.has(`${v.name}:${block}`)) continue
      used.add(`${v.name}:${block}`)
      updates.push({
        controller: 0,
        seq: ++seq,
        time: time - 1,
        volume: v.name,
        block,
        data: randomBytes(TEST_BLOCK_SIZE),
      })
    }
    groups.push({
      session,
      groupSeq: (options.firstSeq ?? 1) + i,
      groupTime: time,
      updates,
      controllers: [{ controller: 0, lastSeq: seq, lastTime: time, resumeOffset: 0 }],
    })
  }
  return groups
}

/** A group as journal records, its updates split over `parts` parts. */
export function toRecords(group: ConsistencyGroup, parts = 1): JournalRecord[] {
  const per = Math.ceil(group.updates.length / parts)
  return Array.from({ length: parts }, (_, part) => ({
    session: group.session,
    groupSeq: group.groupSeq,
    groupTime: group.groupTime,
    part,
    parts,
    updates: group.updates.slice(part * per, (part + 1) * per),
    controllers: part === parts - 1 ? group.controllers : [],
  }))
}

/** The image of `volume` after the groups with seq <= `uptoSeq` (all when absent), last writer wins. */
export function modelImage(
  groups: readonly ConsistencyGroup[],
  volume: string,
  uptoSeq = Number.MAX_SAFE_INTEGER,
): Buffer {
  const v = TEST_VOLUMES.find((x) => x.name === volume)
  if (!v) throw new Error(`no test volume ${volume}`)
  const image = Buffer.alloc(v.blocks * TEST_BLOCK_SIZE)
  for (const g of groups) {
    if (g.groupSeq > uptoSeq) continue
    for (const u of g.updates) if (u.volume === volume) u.data.copy(image, u.block * TEST_BLOCK_SIZE)
  }
  return image
}
