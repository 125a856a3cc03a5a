/**
 * Regressions found by the broker-SIGKILL scenario, on a broker that has
 * just started (a private one, started here): kafkajs's wait for the
 * leaders of a topic it just created gave up on UNKNOWN_TOPIC_OR_PARTITION
 * (the mover refused to start), and a partition reader's seek threw "not
 * initialized" while the group coordinator was still loading (the applier
 * refused to start). Both must simply work.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createKafkaClient } from '../../lib/kafka/index.js'
import { silentLogger } from '../../lib/logger.js'
import { createPartitionReader } from '../../lib/kafka/index.js'
import { waitFor } from '../../lib/retry.js'
import { ensureTopic, journalTopicSpec } from '../../lib/kafka/index.js'
import { uniqueName } from '../kit/names.js'
import { startPrivateKafka, type PrivateServer } from './harness/privateServers.js'
import { kafkajsOf } from '../../lib/kafka/client/kafkaClient.js'

let broker: PrivateServer

beforeAll(async () => {
  broker = await startPrivateKafka()
}, 180_000)

afterAll(async () => {
  await broker?.remove()
})

it('creates topics and reads one from an offset right after the broker started', async () => {
  const kafka = createKafkaClient({
    connection: { brokers: [broker.address] },
    clientId: uniqueName('fresh'),
    logger: silentLogger,
    logs: 'none',
  })
  const admin = kafka.admin()
  await admin.connect()
  const topics = Array.from({ length: 3 }, () => uniqueName('fresh'))
  await Promise.all(topics.map((t) => ensureTopic(admin, journalTopicSpec(t, 64 * 1024), silentLogger)))
  const producer = kafkajsOf(kafka).producer()
  await producer.connect()
  await producer.send({
    topic: topics[0] as string,
    messages: Array.from({ length: 5 }, (_, i) => ({ value: String(i) })),
  })
  await producer.disconnect()
  const seen: number[] = []
  const reader = createPartitionReader({
    kafka,
    topic: topics[0] as string,
    from: new Map([[0, 2]]),
    isolation: 'read_committed',
    groupPrefix: uniqueName('fresh'),
    logger: silentLogger,
    onBatch: async (b) => void seen.push(...b.messages.map((m) => Number(m.offset))),
  })
  await reader.start()
  await waitFor('offsets 2..4', () => (seen.length >= 3 ? true : undefined), { timeoutMs: 30_000 })
  await reader.stop()
  await admin.disconnect()
  expect(seen).toEqual([2, 3, 4])
}, 120_000)
