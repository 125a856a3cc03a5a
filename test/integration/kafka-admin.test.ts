/**
 * The seam's admin (lib/kafka/client/adminTypes.ts) on each Kafka client
 * library, against the real broker: the same calls give the same answers.
 * Topics with their configs and metadata, offsets (the end read
 * read_committed, the start after records are deleted, by timestamp),
 * the cluster, a consumer group's life, and a connect that no broker
 * answers. ACLs need an authorizer: kafka-secured.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  KAFKA_CLIENTS,
  type KafkaAdmin,
  type KafkaClientName,
  type PartitionOffsets,
  createKafkaClient,
} from '../../lib/kafka/client/index.js'
import { kafkajsOf } from '../../lib/kafka/client/kafkaClient.js'
import { silentLogger } from '../../lib/logger.js'
import { waitFor } from '../../lib/retry.js'
import { uniqueName } from '../kit/names.js'
import { freePort } from '../kit/ports.js'
import { stackInfo, testKafka } from '../kit/servers.js'

/** An admin of `client` (not connected) to `brokers`, the stack's by default. */
function adminOf(client: KafkaClientName, brokers: readonly string[] = stackInfo().kafkaBrokers): KafkaAdmin {
  const clientId = uniqueName('admin')
  return createKafkaClient({
    connection: { brokers },
    clientId,
    logger: silentLogger,
    logs: 'none',
    library: client,
  }).admin()
}

const byPartition = <T extends { partition: number }>(list: T[]): T[] =>
  [...list].sort((a, b) => a.partition - b.partition)

/** Three records to partition 0 of `topic`, stamped `t0`, `t0` + 1 s and `t0` + 2 s. */
async function produceThree(topic: string, t0: number): Promise<void> {
  const producer = kafkajsOf(testKafka()).producer()
  await producer.connect()
  await producer.send({
    topic,
    acks: -1,
    messages: [0, 1, 2].map((i) => ({ partition: 0, value: `r${i}`, timestamp: String(t0 + i * 1000) })),
  })
  await producer.disconnect()
}

describe.each(KAFKA_CLIENTS)('Kafka admin on %s', (client) => {
  let admin: KafkaAdmin
  beforeAll(async () => {
    admin = adminOf(client)
    await admin.connect()
  })
  afterAll(async () => {
    await admin.disconnect()
  })

  it('creates topics (false when one exists), lists, describes and deletes them', async () => {
    const topic = uniqueName('admin')
    const other = uniqueName('admin')
    const configEntries = [
      { name: 'retention.ms', value: '3600000' },
      { name: 'cleanup.policy', value: 'compact' },
    ]
    // waitForLeaders is on by default
    expect(
      await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1, configEntries }] }),
    ).toBe(true)
    const { brokers } = await admin.describeCluster()
    const node = brokers[0]?.nodeId as number
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] })
    expect(metadata.topics.map((t) => t.name)).toEqual([topic])
    expect([...(metadata.topics[0]?.partitions ?? [])].sort((a, b) => a.partitionId - b.partitionId)).toEqual(
      [0, 1].map((partitionId) => ({ partitionId, leader: node, replicas: [node], isr: [node], offlineReplicas: [] })),
    )
    const configs = await admin.topicConfigs([topic], ['retention.ms', 'cleanup.policy', 'no.such.config'])
    expect([...configs.keys()]).toEqual([topic])
    expect(Object.fromEntries(configs.get(topic) ?? [])).toEqual({
      'retention.ms': '3600000',
      'cleanup.policy': 'compact',
    })

    // one of the two exists: false, and the other is created all the same
    expect(
      await admin.createTopics({
        topics: [
          { topic, numPartitions: 2, replicationFactor: 1 },
          { topic: other, numPartitions: 1, replicationFactor: 1 },
        ],
        waitForLeaders: true,
      }),
    ).toBe(false)
    expect(await admin.listTopics()).toEqual(expect.arrayContaining([topic, other]))
    expect((await admin.fetchTopicOffsets(other)).map((o) => o.partition)).toEqual([0])

    await admin.deleteTopics({ topics: [topic, other] })
    await waitFor(
      'the topics gone from the listing',
      async () => ((await admin.listTopics()).some((t) => t === topic || t === other) ? undefined : true),
      { timeoutMs: 30_000, intervalMs: 100 },
    )
  })

  it('rejects the metadata of an unknown topic with UNKNOWN_TOPIC_OR_PARTITION', async () => {
    await expect(admin.fetchTopicMetadata({ topics: [uniqueName('missing')] })).rejects.toMatchObject({
      type: 'UNKNOWN_TOPIC_OR_PARTITION',
      retriable: true,
    })
  })

  it('gives each partition its log start and end, and the first offset at or after a time', async () => {
    const topic = uniqueName('admin')
    expect(await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }] })).toBe(true)
    const offsets = async () => byPartition(await admin.fetchTopicOffsets(topic))
    const at = (p0: [string, string], p1: [string, string]): PartitionOffsets[] =>
      [p0, p1].map(([low, high], partition) => ({ partition, offset: high, high, low }))
    const byTime = async (ts: number) =>
      byPartition(await admin.fetchTopicOffsetsByTimestamp(topic, ts)).map((o) => o.offset)
    expect(await offsets()).toEqual(at(['0', '0'], ['0', '0']))
    expect(await byTime(Date.now())).toEqual(['0', '0'])

    const t0 = Date.now() - 60_000
    await produceThree(topic, t0)
    expect(await offsets()).toEqual(at(['0', '3'], ['0', '0']))
    expect(await byTime(t0 - 1000)).toEqual(['0', '0']) // before every record: the log start
    expect(await byTime(t0 + 1000)).toEqual(['1', '0'])
    expect(await byTime(t0 + 1500)).toEqual(['2', '0'])
    expect(await byTime(Date.now() + 86_400_000)).toEqual(['3', '0']) // after every record: the log end

    const kafka = kafkajsOf(testKafka())
    const deleter = kafka.admin()
    await deleter.connect()
    await deleter.fetchTopicOffsets(topic) // kafkajs deletes records of a topic whose metadata it holds
    await deleter.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '2' }] })
    await deleter.disconnect()
    expect(await offsets()).toEqual(at(['2', '3'], ['0', '0']))
    expect(await byTime(t0 - 1000)).toEqual(['2', '0'])

    // a transaction left open holds the end where it began (read_committed: the last stable offset)
    const producer = kafka.producer({ transactionalId: uniqueName('txid'), idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    const tx = await producer.transaction()
    await tx.send({ topic, acks: -1, messages: [{ partition: 1, value: 'open' }] })
    expect(await offsets()).toEqual(at(['2', '3'], ['0', '0']))
    expect(await byTime(Date.now() + 86_400_000)).toEqual(['3', '0'])
    await tx.abort()
    await producer.disconnect()
    // the record and the abort marker, which the coordinator writes after the abort returns
    const end = async () => (await offsets())[1]?.high
    await waitFor('the abort marker', async () => ((await end()) === '2' ? true : undefined), { timeoutMs: 30_000 })
    expect(await offsets()).toEqual(at(['2', '3'], ['0', '2']))

    await admin.deleteTopics({ topics: [topic] })
  })

  it('describes the cluster', async () => {
    const { brokers, controller, clusterId } = await admin.describeCluster()
    expect(brokers).toHaveLength(stackInfo().kafkaBrokers.length)
    for (const b of brokers)
      expect(b).toEqual({ nodeId: expect.any(Number), host: expect.any(String), port: expect.any(Number) })
    if (controller !== null) expect(brokers.map((b) => b.nodeId)).toContain(controller)
    expect(clusterId).toEqual(expect.any(String))
    expect(clusterId.length).toBeGreaterThan(0)
  })

  it('lists, describes and deletes a consumer group', async () => {
    const topic = uniqueName('admin')
    const groupId = uniqueName('group')
    expect(await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] })).toBe(true)
    await produceThree(topic, Date.now())
    const consumer = kafkajsOf(testKafka()).consumer({ groupId, maxWaitTimeInMs: 50 })
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    let seen = 0
    await consumer.run({
      eachMessage: async () => {
        seen++
      },
    })
    await waitFor('the consumer to read the records', () => (seen === 3 ? true : undefined), { timeoutMs: 30_000 })
    const described = async () => admin.describeGroups([groupId])
    expect(await described()).toEqual([{ groupId, state: 'Stable', members: 1 }])
    expect(await admin.listGroups()).toContain(groupId)
    await consumer.disconnect() // commits what it read: the group stays, empty
    expect(await described()).toEqual([{ groupId, state: 'Empty', members: 0 }])

    await admin.deleteGroups([groupId])
    expect(await admin.listGroups()).not.toContain(groupId)
    expect(await described()).toEqual([{ groupId, state: 'Dead', members: 0 }])
    await admin.deleteTopics({ topics: [topic] })
  })

  it('fails to connect when no broker answers', async () => {
    const nobody = adminOf(client, [`127.0.0.1:${await freePort()}`])
    await expect(nobody.connect()).rejects.toThrow()
    await nobody.disconnect()
  })
})
