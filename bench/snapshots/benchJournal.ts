/**
 * A session's journal written straight to Kafka for the snapshot bench, in
 * the shape the mover writes it: each group's block writes as record sets on
 * the updates topic (partition = controller), then one marker per group on
 * the journal topic in a committed transaction. Random (incompressible) 4 KiB
 * blocks, `groupBlocks` distinct blocks per group spread over every volume of
 * the session, so blocks are overwritten across groups.
 */
import { randomBytes } from 'node:crypto'
import type { Config } from '../../lib/config.js'
import {
  type IdempotentProducer,
  type KafkaAdmin,
  type KafkaClient,
  type TransactionalProducer,
  connectIdempotentProducer,
  createTransactionalProducer,
  ensureTopic,
  journalTopicSpec,
  sendWhole,
  updatesTopicSpec,
} from '../../lib/kafka/index.js'
import { silentLogger } from '../../lib/logger.js'
import { waitFor } from '../../lib/retry.js'
import { createCodec, type AvroCodec } from '../../schemas/codec.js'
import { JOURNAL_SCHEMA, type JournalRecord, type UpdatesRange } from '../../schemas/journal.js'
import { RECORD_SET_SCHEMA, type RecordSet } from '../../schemas/recordSet.js'
import { HEADERS, sessionTopics, valueSubject } from '../../schemas/topicNames.js'

/** Updates per record set on the updates topic (256 KiB of blocks). */
const PER_RECORD_SET = 64

interface Slot {
  controller: number
  volume: string
  block: number
}

interface Wire {
  producer: IdempotentProducer
  codec: AvroCodec<RecordSet>
  topic: string
  session: string
  /** Per controller: the next seq and the updates partition's end offset. */
  next: Map<number, { seq: number; end: number }>
}

/** Writes `groups` groups (seq 1..groups) to the session's journal; resolves once read_committed readers see them. */
export async function writeBenchJournal(options: {
  config: Config
  kafka: KafkaClient
  groups: number
  groupBlocks: number
}): Promise<void> {
  const { config, kafka } = options
  const session = config.session.name
  const topics = sessionTopics(session)
  const slots: Slot[] = config.session.controllers.flatMap((c) =>
    c.volumes.flatMap((v) =>
      Array.from({ length: v.blocks }, (_, block) => ({ controller: c.id, volume: v.name, block })),
    ),
  )
  const admin = kafka.admin()
  await admin.connect()
  let producer: IdempotentProducer | undefined
  const tx = createTransactionalProducer(kafka, {
    transactionalId: `xrc.${session}.bench-journal`,
    transactionTimeoutMs: 60_000,
  })
  try {
    const partitions = Math.max(...config.session.controllers.map((c) => c.id)) + 1
    await ensureTopic(admin, updatesTopicSpec(topics.updates, partitions, config.mover.maxRecordSetBytes), silentLogger)
    await ensureTopic(admin, journalTopicSpec(topics.journal, config.mover.journalRecordMaxBytes), silentLogger)
    const registry = config.schemaRegistry
    const [codec, journalCodec] = await Promise.all([
      createCodec<RecordSet>({ registry, subject: valueSubject(topics.updates), schema: RECORD_SET_SCHEMA }),
      createCodec<JournalRecord>({ registry, subject: valueSubject(topics.journal), schema: JOURNAL_SCHEMA }),
    ])
    ;[producer] = await Promise.all([connectIdempotentProducer(kafka), tx.connect()])
    const next = new Map(config.session.controllers.map((c) => [c.id, { seq: 1, end: 0 }]))
    const wire: Wire = { producer: producer as IdempotentProducer, codec, topic: topics.updates, session, next }
    const markers: JournalRecord[] = []
    let time = Date.now() * 1000
    for (let g = 1; g <= options.groups; g++) {
      time += 10_000
      markers.push(await writeGroup(wire, g, time, pick(slots, options.groupBlocks)))
    }
    await commitMarkers(admin, tx, topics.journal, journalCodec, markers)
  } finally {
    await Promise.all([producer?.close(), tx.close()]).catch(() => undefined)
    await admin.disconnect()
  }
}

/** `n` distinct slots at random (a partial Fisher-Yates over a copy of the indices). */
function pick(slots: readonly Slot[], n: number): Slot[] {
  const idx = Array.from(slots.keys())
  const out: Slot[] = []
  for (let i = 0; i < Math.min(n, idx.length); i++) {
    const j = i + Math.floor(Math.random() * (idx.length - i))
    ;[idx[i], idx[j]] = [idx[j] as number, idx[i] as number]
    out.push(slots[idx[i] as number] as Slot)
  }
  return out
}

/** A group's writes on the updates topic, per controller, and its marker. */
async function writeGroup(wire: Wire, groupSeq: number, groupTime: number, writes: Slot[]): Promise<JournalRecord> {
  const ranges: UpdatesRange[] = []
  const controllers = []
  for (const [controller, w] of wire.next) {
    const mine = writes.filter((s) => s.controller === controller)
    const data = randomBytes(mine.length * 4096)
    const firstSeq = w.seq
    const values: Buffer[] = []
    for (let i = 0; i < mine.length; i += PER_RECORD_SET) {
      const updates = mine.slice(i, i + PER_RECORD_SET).map((s, k) => ({
        seq: w.seq++,
        time: groupTime - 1,
        volume: s.volume,
        block: s.block,
        data: data.subarray((i + k) * 4096, (i + k + 1) * 4096),
      }))
      const set = { session: wire.session, controller, kind: 'UPDATES', window: null, updates }
      const bounds = { firstSeq: updates[0]?.seq, lastSeq: updates[updates.length - 1]?.seq }
      values.push(wire.codec.encode({ ...set, ...bounds, minTime: groupTime - 1, maxTime: groupTime - 1 } as RecordSet))
    }
    // the topic is new and this its only writer (idempotent): its records take the offsets from 0 on, in order
    const from = w.end
    if (values.length > 0) {
      await sendWhole(
        wire.producer,
        wire.topic,
        values.map((value) => ({ partition: controller, key: String(controller), value, headers: {} })),
      )
      w.end += values.length
    }
    ranges.push({ controller, fromOffset: from, toOffset: w.end, firstSeq, lastSeq: w.seq - 1, setAside: [] })
    controllers.push({ controller, lastSeq: w.seq - 1, lastTime: groupTime, resumeOffset: 0 })
  }
  const marker = { session: wire.session, groupSeq, groupTime, part: 0, parts: 1, updates: [], controllers }
  return { ...marker, ranges, discarded: [] }
}

/** The markers in one committed transaction; waits until the journal's last stable offset is past it. */
async function commitMarkers(
  admin: KafkaAdmin,
  tx: TransactionalProducer,
  topic: string,
  codec: AvroCodec<JournalRecord>,
  markers: JournalRecord[],
): Promise<void> {
  const logEnd = async (): Promise<number> =>
    Number((await admin.fetchTopicOffsets(topic)).find((o) => o.partition === 0)?.offset)
  const base = await logEnd()
  const t = await tx.begin()
  await t.send(
    topic,
    markers.map((r) => ({
      partition: 0,
      key: String(r.groupSeq),
      value: codec.encode(r),
      headers: {
        [HEADERS.groupSeq]: String(r.groupSeq),
        [HEADERS.groupTime]: String(r.groupTime),
        [HEADERS.part]: String(r.part),
        [HEADERS.parts]: String(r.parts),
      },
    })),
  )
  await t.commit()
  const end = base + markers.length
  await waitFor(
    `the journal's transaction marker at ${topic} offset ${end}`,
    async () => (await logEnd()) > end || undefined,
    { timeoutMs: 60_000, intervalMs: 20 },
  )
}
