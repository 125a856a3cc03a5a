/**
 * Test kit of the producer's integration tests: a config for a private
 * session (own topic, subject and data folder), and a reader that decodes
 * everything on the session's updates topic.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Consumer } from 'kafkajs'
import type { KafkaClient, RecordHeaders } from '../../lib/kafka/index.js'
import { loadConfig, type Config } from '../../lib/config.js'
import { createCodec } from '../../schemas/codec.js'
import { RECORD_SET_SCHEMA, type RecordSet } from '../../schemas/recordSet.js'
import { sessionTopics, valueSubject } from '../../schemas/topicNames.js'
import { uniqueName } from '../kit/names.js'
import { deleteSubject, stackInfo, testKafka } from '../kit/servers.js'
import { registryAt } from '../../schemas/registryClient.js'
import { kafkajsOf } from '../../lib/kafka/client/kafkaClient.js'

export interface ReceivedRecordSet {
  partition: number
  offset: string
  key: string | undefined
  headers: Record<string, string>
  recordSet: RecordSet
}

export interface TestSession {
  config: Config
  topic: string
  dataDir: string
  /** Deletes the topic, the subject and the data folder. */
  cleanup(): Promise<void>
}

/** Three controllers (ids 0, 1, 2) of two volumes of `blocks` blocks each, blocks of 512 bytes, a private session. */
export async function testSession(
  producer: Record<string, unknown> = {},
  blocks = 64,
  extra: Record<string, unknown> = {},
): Promise<TestSession> {
  const name = uniqueName('prod')
  const dataDir = await mkdtemp(join(tmpdir(), 'xrc-producer-it-'))
  const config = loadConfig({
    overrides: {
      kafka: { brokers: stackInfo().kafkaBrokers },
      schemaRegistry: { url: stackInfo().registryUrl },
      log: { level: 'silent' },
      session: {
        name,
        blockSize: 512,
        dataDir,
        controllers: [0, 1, 2].map((id) => ({
          id,
          volumes: [
            { name: `v${id}a`, blocks },
            { name: `v${id}b`, blocks },
          ],
        })),
      },
      producer: { heartbeatMs: 50, lingerMs: 2, ...producer },
      ...extra,
    },
  })
  const topic = sessionTopics(name).updates
  // the primary follows the applied topic (and makes it when no applier has)
  const applied = sessionTopics(name).applied
  return {
    config,
    topic,
    dataDir,
    async cleanup() {
      const admin = testKafka().admin()
      await admin.connect()
      try {
        const mine = (await admin.listTopics()).filter((t) => t === topic || t === applied)
        if (mine.length > 0) await admin.deleteTopics({ topics: mine })
      } finally {
        await admin.disconnect()
      }
      await deleteSubject(valueSubject(topic))
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}

function headersOf(h: RecordHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(h ?? {})) out[k] = Array.isArray(v) ? String(v[0]) : String(v)
  return out
}

/**
 * Reads the topic from the beginning and decodes every record; `received`
 * grows as records arrive. Stop it with `stop()`.
 */
export async function readUpdates(
  topic: string,
): Promise<{ received: ReceivedRecordSet[]; stop: () => Promise<void> }> {
  const kafka: KafkaClient = testKafka()
  const codec = await createCodec<RecordSet>({
    registry: registryAt(stackInfo().registryUrl),
    subject: valueSubject(topic),
    schema: RECORD_SET_SCHEMA,
  })
  const groupId = uniqueName('prod_reader')
  const consumer: Consumer = kafkajsOf(kafka).consumer({ groupId, maxWaitTimeInMs: 50, retry: { retries: 10 } })
  const received: ReceivedRecordSet[] = []
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      received.push({
        partition,
        offset: message.offset,
        key: message.key?.toString(),
        headers: headersOf(message.headers),
        recordSet: await codec.decode(message.value as Buffer),
      })
    },
  })
  return {
    received,
    async stop() {
      await consumer.disconnect()
      const admin = kafka.admin()
      await admin.connect()
      await admin.deleteGroups([groupId]).catch(() => undefined) // best effort: the group may already be gone
      await admin.disconnect()
    },
  }
}

/** Deterministic content of a block, so any copy of it (volume, KafkaClient) can be checked without bookkeeping. */
export function blockData(volume: string, block: number, blockSize = 512): Buffer {
  return Buffer.alloc(blockSize, `${volume}:${block};`)
}
