/**
 * A session journal written by hand, for tests of its readers: its own
 * journal and updates topics and registry subjects, a transactional producer
 * for the journal (commit or abort), groups as markers (the default: their
 * writes as record sets on the updates topic, one partition per controller,
 * and one marker per group on the journal) or as records of the older
 * format (`asIs`: the records as given, split into parts), and a model of
 * the image the groups make.
 */
import { randomBytes } from 'node:crypto'
import type { Producer } from 'kafkajs'
import type { KafkaAdmin, KafkaClient } from '../../lib/kafka/index.js'
import { loadConfig, type Config } from '../../lib/config.js'
import { waitFor } from '../../lib/retry.js'
import { createCodec, type AvroCodec } from '../../schemas/codec.js'
import {
  JOURNAL_SCHEMA,
  type ConsistencyGroup,
  type JournalRecord,
  type JournalUpdate,
  type UpdatesRange,
} from '../../schemas/journal.js'
import { RECORD_SET_SCHEMA, type RecordSet } from '../../schemas/recordSet.js'
import { HEADERS, sessionTopics, valueSubject } from '../../schemas/topicNames.js'
import { uniqueName } from './names.js'
import { createTestTopics, deleteSubject, stackInfo } from './servers.js'
import { registryAt } from '../../schemas/registryClient.js'
import { kafkajsOf } from '../../lib/kafka/client/kafkaClient.js'

export interface WriteOptions {
  /** Abort the journal transaction instead of committing it. */
  abort?: boolean
  /** Write the records as given (groups of the older format, or markers made by the test); default: as markers. */
  asIs?: boolean
  /** As markers: a garbage record (not Avro) inside each range that reads anything, set aside by the marker. */
  setAsideGarbage?: boolean
  /** As markers: the most updates per record set (default 4). */
  perRecordSet?: number
}

export interface TestJournal {
  session: string
  topic: string
  /** The session's updates topic (one partition per controller). */
  updatesTopic: string
  codec: AvroCodec<JournalRecord>
  updatesCodec: AvroCodec<RecordSet>
  /**
   * Writes the groups that `records` hold (whole groups, parts in order) as
   * markers: their updates as record sets on the updates topic, then one
   * marker per group in one Kafka transaction, committed or aborted. With
   * `asIs` the records go to the journal as given.
   */
  write(records: JournalRecord[], options?: WriteOptions): Promise<void>
  /**
   * Writes the groups' markers now, in one committed transaction, and returns what writes their updates later:
   * markers that arrive before their updates, for a test that needs an applier waiting on the updates topic.
   */
  writeHeld(records: JournalRecord[]): Promise<() => Promise<void>>
  /** Writes raw values (say, garbage) in one committed transaction. */
  writeRaw(values: Buffer[]): Promise<void>
  /** Appends raw values to an updates partition; resolves with the offset of the first. */
  appendUpdates(controller: number, values: Buffer[]): Promise<number>
  /** The markers written so far (as markers), in order. */
  readonly markers: readonly JournalRecord[]
  cleanup(): Promise<void>
}

/**
 * Creates a session's journal and updates topics and subjects, a
 * transactional producer for the journal and a producer for the updates.
 * `controllers`: the session's controller ids (a marker has a range for each).
 */
export async function createTestJournal(
  kafka: KafkaClient,
  admin: KafkaAdmin,
  session = uniqueName('s'),
  options: { controllers?: number[] } = {},
): Promise<TestJournal> {
  const controllers = options.controllers ?? [0]
  const topics = sessionTopics(session)
  const topic = topics.journal
  const updatesTopic = topics.updates
  const dropTopics = await createTestTopics(admin, [
    { topic },
    { topic: updatesTopic, numPartitions: Math.max(...controllers) + 1 },
  ])
  const [codec, updatesCodec] = await Promise.all([
    createCodec<JournalRecord>({
      registry: registryAt(stackInfo().registryUrl),
      subject: valueSubject(topic),
      schema: JOURNAL_SCHEMA,
    }),
    createCodec<RecordSet>({
      registry: registryAt(stackInfo().registryUrl),
      subject: valueSubject(updatesTopic),
      schema: RECORD_SET_SCHEMA,
    }),
  ])
  const producer: Producer = kafkajsOf(kafka).producer({
    transactionalId: uniqueName('tx'),
    idempotent: true,
    maxInFlightRequests: 1,
  })
  const updatesProducer: Producer = kafkajsOf(kafka).producer({ idempotent: true, maxInFlightRequests: 1 })
  await Promise.all([producer.connect(), updatesProducer.connect()])
  /** Per controller: the next seq on the wire and the updates partition's end. */
  const wire = new Map(controllers.map((c) => [c, { nextSeq: 1, end: 0 }]))
  const markers: JournalRecord[] = []

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

  async function appendUpdates(controller: number, values: Buffer[]): Promise<number> {
    if (values.length === 0) return wire.get(controller)?.end ?? 0
    const [meta] = await updatesProducer.send({
      topic: updatesTopic,
      acks: -1,
      messages: values.map((value) => ({ partition: controller, key: String(controller), value })),
    })
    const base = Number(meta?.baseOffset)
    const w = wire.get(controller)
    // a held write's updates (writeHeld) land below the end its planning moved on
    if (w !== undefined) w.end = Math.max(w.end, base + values.length)
    return base
  }

  /** A group's writes on the updates topic, and its marker. */
  async function toMarker(group: ConsistencyGroup, options: WriteOptions): Promise<JournalRecord> {
    const { marker, append } = planMarker(group, options)
    await append()
    return marker
  }

  /**
   * A group's marker, its ranges where its writes will land (the kit is the only writer of the updates
   * topic), and `append`, which writes them there.
   */
  function planMarker(
    group: ConsistencyGroup,
    options: WriteOptions,
  ): { marker: JournalRecord; append: () => Promise<void> } {
    const ranges: UpdatesRange[] = []
    const writes: { controller: number; values: Buffer[]; from: number }[] = []
    for (const controller of controllers) {
      const w = wire.get(controller) as { nextSeq: number; end: number }
      // the group's writes of this controller in journal order, renumbered on the wire (seqs are per controller)
      const mine = group.updates
        .filter((u) => u.controller === controller)
        .sort((a, b) => a.time - b.time || a.seq - b.seq)
      const firstSeq = w.nextSeq
      const values: Buffer[] = []
      const setAside: number[] = []
      const per = options.perRecordSet ?? 4
      for (let i = 0; i < mine.length; i += per) {
        const slice = mine.slice(i, i + per)
        const updates = slice.map((u) => ({
          seq: w.nextSeq++,
          time: u.time,
          volume: u.volume,
          block: u.block,
          data: u.data,
        }))
        values.push(
          updatesCodec.encode({
            session: group.session,
            controller,
            kind: 'UPDATES',
            firstSeq: updates[0]?.seq ?? firstSeq,
            lastSeq: updates[updates.length - 1]?.seq ?? firstSeq - 1,
            minTime: updates[0]?.time ?? 0,
            maxTime: updates[updates.length - 1]?.time ?? 0,
            updates,
            window: null,
          } as RecordSet),
        )
        if (options.setAsideGarbage === true && i === 0) {
          setAside.push(w.end + values.length)
          values.push(Buffer.from('garbage, never decoded'))
        }
      }
      const from = w.end
      w.end += values.length
      writes.push({ controller, values, from })
      ranges.push({ controller, fromOffset: from, toOffset: w.end, firstSeq, lastSeq: w.nextSeq - 1, setAside })
    }
    const marker: JournalRecord = {
      session: group.session,
      groupSeq: group.groupSeq,
      groupTime: group.groupTime,
      part: 0,
      parts: 1,
      updates: [],
      controllers: group.controllers,
      ...(group.windows !== undefined && group.windows.length > 0 ? { windows: group.windows } : {}),
      ranges,
      discarded: [],
    }
    return {
      marker,
      async append() {
        for (const { controller, values, from } of writes) {
          const base = await appendUpdates(controller, values)
          if (values.length > 0 && base !== from)
            throw new Error(`test journal: controller ${controller}'s updates landed at ${base}, not ${from}`)
        }
      },
    }
  }

  /** The whole groups `records` hold (parts in order), joined. */
  function groupsOf(records: JournalRecord[]): ConsistencyGroup[] {
    const groups: ConsistencyGroup[] = []
    for (let i = 0; i < records.length;) {
      const first = records[i] as JournalRecord
      const parts = records.slice(i, i + first.parts)
      if (parts.length !== first.parts || parts.some((p, k) => p.part !== k || p.groupSeq !== first.groupSeq))
        throw new Error(`test journal: group ${first.groupSeq} is not whole; write it with { asIs: true }`)
      groups.push({
        session: first.session,
        groupSeq: first.groupSeq,
        groupTime: first.groupTime,
        updates: parts.flatMap((p) => p.updates),
        controllers: parts.flatMap((p) => p.controllers),
        windows: parts.flatMap((p) => p.windows ?? []),
      })
      i += first.parts
    }
    return groups
  }

  function message(r: JournalRecord): { value: Buffer; headers: Record<string, string> } {
    return {
      value: codec.encode(r),
      headers: {
        [HEADERS.groupSeq]: String(r.groupSeq),
        [HEADERS.groupTime]: String(r.groupTime),
        [HEADERS.part]: String(r.part),
        [HEADERS.parts]: String(r.parts),
      },
    }
  }

  return {
    session,
    topic,
    updatesTopic,
    codec,
    updatesCodec,
    markers,
    async write(records, options = {}) {
      if (options.asIs === true) return send(records.map(message), options.abort ?? false)
      const made: JournalRecord[] = []
      for (const group of groupsOf(records)) made.push(await toMarker(group, options))
      await send(made.map(message), options.abort ?? false)
      if (options.abort !== true) markers.push(...made)
    },
    async writeHeld(records) {
      const planned = groupsOf(records).map((g) => planMarker(g, {}))
      await send(
        planned.map((p) => message(p.marker)),
        false,
      )
      markers.push(...planned.map((p) => p.marker))
      return async () => {
        for (const p of planned) await p.append()
      }
    },
    writeRaw: (values) =>
      send(
        values.map((value) => ({ value })),
        false,
      ),
    appendUpdates,
    async cleanup() {
      await producer.disconnect()
      await updatesProducer.disconnect()
      await dropTopics()
      await deleteSubject(valueSubject(topic))
      await deleteSubject(valueSubject(updatesTopic))
      // an applier of the session publishes what it applied (schemas/appliedState.ts)
      const applied = topics.applied
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
  options: {
    maxUpdates?: number
    /** Fewest updates per group (default: 1 for the first group, 0 for the others). */
    minUpdates?: number
    firstSeq?: number
    startTime?: number
  } = {},
): ConsistencyGroup[] {
  const groups: ConsistencyGroup[] = []
  let time = options.startTime ?? Date.now() * 1000
  let seq = 0
  for (let i = 0; i < count; i++) {
    time += 1 + Math.floor(Math.random() * 5000)
    const updates: JournalUpdate[] = []
    const n = Math.max(
      Math.floor(Math.random() * (options.maxUpdates ?? 12)) + (i === 0 ? 1 : 0),
      options.minUpdates ?? 0,
    )
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
