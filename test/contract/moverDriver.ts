/**
 * The driver of the stage contract (stageContract.ts) for the mover: record sets in on
 * the updates topic, consistency groups out on the journal (markers,
 * resolved against the updates topic: test/kit/markerReader.ts), in order,
 * covering every update once. Item i is a one-update record set of
 * controller i%3 (volume c{c}v{(i/3)%2}, block floor(i/6): no two items
 * share a block, so no group folds one into another), its times and seqs
 * from the scripted controllers of moverKit.ts, so item order is time
 * order; heartbeats after each feed let the consistency time pass the last
 * item. A bad item is a record that does not decode and claims no seq:
 * dead-lettered with XRC_DECODE_FAILED, the stream goes on. Its downstream
 * is Kafka (the journal), on the same broker as its input.
 */
import type { KafkaClientName } from '../../lib/kafka/client/index.js'
import { loadConfig } from '../../lib/config.js'
import { createKafkaClient } from '../../lib/kafka/index.js'
import { silentLogger } from '../../lib/logger.js'
import { createMover, readDeadLetters, type Mover } from '../../mover/index.js'
import { createCodec } from '../../schemas/codec.js'
import { JOURNAL_SCHEMA, type JournalRecord } from '../../schemas/journal.js'
import { RECORD_SET_SCHEMA, type RecordSet } from '../../schemas/recordSet.js'
import { moverGroupId, sessionTopics, valueSubject } from '../../schemas/topicNames.js'
import { ScriptedControllers } from '../integration/moverKit.js'
import { type JournalEntry, resolveJournal } from '../kit/markerReader.js'
import { uniqueName } from '../kit/names.js'
import { deleteSubject, stackInfo } from '../kit/servers.js'
import type { StageDriver } from './stageContract.js'
import { followTopic } from './topicFollower.js'
import { recordSetHeaders } from '../../schemas/recordSet.js'
import { registryAt } from '../../schemas/registryClient.js'
import { kafkajsOf } from '../../lib/kafka/client/kafkaClient.js'

const BLOCK = 512
const CONTROLLERS = [0, 1, 2]
const placement = (item: number): { controller: number; volume: string; block: number } => ({
  controller: item % 3,
  volume: `c${item % 3}v${Math.floor(item / 3) % 2}`,
  block: Math.floor(item / 6),
})
/** The scripted controllers write their write's number (from 1) in each block's first bytes. */
const itemOf = (data: Buffer): number => data.readUInt32BE(0) - 1

/** The mover's contract with its readers on `client` (kafka.client). */
export const moverDriver = (client: KafkaClientName): StageDriver<Mover> => ({
  name: 'mover',
  variant: `kafka.client ${client}`,
  downstream: 'kafka',
  feedsWhileStopped: true,
  inputOnDownstream: true,
  badItem: { expect: 'set-aside', code: 'XRC_DECODE_FAILED' },
  async open(servers) {
    const session = uniqueName('ctm')
    const topics = sessionTopics(session)
    const brokers = servers.kafkaBrokers ?? stackInfo().kafkaBrokers
    const registryUrl = stackInfo().registryUrl
    const config = loadConfig({
      overrides: {
        kafka: { brokers, client },
        schemaRegistry: { url: registryUrl },
        log: { level: 'silent' },
        session: {
          name: session,
          blockSize: BLOCK,
          controllers: CONTROLLERS.map((id) => ({
            id,
            volumes: [0, 1].map((v) => ({ name: `c${id}v${v}`, blocks: 256 })),
          })),
        },
        mover: { groupIntervalMs: 40 },
      },
    })
    const kafka = createKafkaClient({
      connection: { brokers },
      clientId: uniqueName('contract'),
      logger: silentLogger,
      logs: 'none',
    })
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic: topics.updates, numPartitions: CONTROLLERS.length }],
    })
    const [codec, journalCodec] = await Promise.all([
      createCodec<RecordSet>({
        registry: registryAt(registryUrl),
        subject: valueSubject(topics.updates),
        schema: RECORD_SET_SCHEMA,
      }),
      createCodec<JournalRecord>({
        registry: registryAt(registryUrl),
        subject: valueSubject(topics.journal),
        schema: JOURNAL_SCHEMA,
      }),
    ])
    const producer = kafkajsOf(kafka).producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    const controllers = new ScriptedControllers(session, BLOCK)
    const journal = followTopic(kafka, topics.journal, 1)
    const send = (
      records: { partition: number; value: Buffer; headers?: Record<string, string> }[],
    ): Promise<unknown> => producer.send({ topic: topics.updates, acks: -1, messages: records })
    const wire = (rs: RecordSet): { partition: number; value: Buffer; headers: Record<string, string> } => ({
      partition: rs.controller,
      value: codec.encode(rs),
      headers: recordSetHeaders(rs),
    })
    return {
      create: () => createMover({ config, logger: silentLogger }),
      async feed(_stage, from, to) {
        for (let i = from; i < to; i += 100) {
          const sets: RecordSet[] = []
          for (let item = i; item < Math.min(to, i + 100); item++) {
            const at = placement(item)
            sets.push(controllers.updates(at.controller, [[Math.floor(item / 3) % 2, at.block, 1]]))
          }
          await send([...sets, ...controllers.heartbeats()].map(wire))
        }
      },
      async feedBad() {
        await send([{ partition: 0, value: Buffer.from('not a record set') }])
      },
      async output() {
        const [messages = []] = await journal.read()
        const entries: JournalEntry[] = await Promise.all(
          messages.map(async (m) => ({
            offset: Number(m.offset),
            record: await journalCodec.decode(m.value as Buffer),
          })),
        )
        const items: number[] = []
        let lastTime = Number.NEGATIVE_INFINITY
        // each marker resolved against the updates topic: the updates the applier would take
        const groups = await resolveJournal({
          kafka,
          admin,
          updatesTopic: topics.updates,
          updatesCodec: codec,
          blockSize: BLOCK,
          entries,
        })
        for (const [k, group] of groups.entries()) {
          // groups numbered from 1 without a gap, their times strictly increasing
          const inOrder = group.groupSeq === k + 1 && group.groupTime > lastTime
          lastTime = group.groupTime
          for (const u of group.updates) {
            const item = itemOf(u.data)
            const at = placement(item)
            const right =
              inOrder &&
              u.controller === at.controller &&
              u.volume === at.volume &&
              u.block === at.block &&
              u.time <= group.groupTime
            items.push(right ? item : -1)
          }
        }
        return [items]
      },
      async setAside() {
        const letters = await readDeadLetters({
          kafka,
          topic: topics.deadLetter,
          logger: silentLogger,
          groupPrefix: uniqueName('contract-dlq'),
        })
        return letters.map((l) => l.code)
      },
      async cleanup() {
        await producer.disconnect()
        const existing = new Set(await admin.listTopics())
        await admin.deleteTopics({ topics: Object.values(topics).filter((t) => existing.has(t)) })
        await admin.deleteGroups([moverGroupId(session)]).catch(() => undefined) // none when no group was journaled
        await admin.disconnect()
        await deleteSubject(valueSubject(topics.updates))
        await deleteSubject(valueSubject(topics.journal))
      },
    }
  },
})
