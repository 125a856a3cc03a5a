/**
 * The ground everything stands on: the real broker, registry and PostgreSQL
 * answer and behave as the pipeline needs (topics, produce/consume,
 * transactions with sendOffsets seen by read_committed consumers, Avro in the
 * Confluent wire format, PostgreSQL round trips).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { KafkaAdmin, KafkaClient } from '../../lib/kafka/index.js'
import { COMPATIBILITY, SchemaType } from '@kafkajs/confluent-schema-registry'
import { waitFor } from '../../lib/retry.js'
import { uniqueName } from '../kit/names.js'
import { createTestSchema, createTestTopics, deleteSubject, testKafka, testRegistry } from '../kit/servers.js'
import { kafkajsOf } from '../../lib/kafka/client/kafkaClient.js'

let kafka: KafkaClient
let admin: KafkaAdmin
const cleanups: (() => Promise<void>)[] = []

beforeAll(async () => {
  kafka = testKafka()
  admin = kafka.admin()
  await admin.connect()
})

afterAll(async () => {
  for (const c of cleanups.reverse()) await c()
  await admin.disconnect()
})

/** Consumes `topic` from the start until `count` messages arrived. */
async function consumeAll(
  topic: string,
  count: number,
  isolation: 'read_committed' | 'read_uncommitted',
): Promise<string[]> {
  const consumer = kafkajsOf(kafka).consumer({
    groupId: uniqueName('g'),
    readUncommitted: isolation === 'read_uncommitted',
    maxWaitTimeInMs: 100,
  })
  const seen: string[] = []
  await consumer.connect()
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    await consumer.run({ eachMessage: async ({ message }) => void seen.push(message.value?.toString() ?? '') })
    await waitFor(`${count} messages on ${topic}`, () => (seen.length >= count ? true : undefined), {
      timeoutMs: 30_000,
    })
  } finally {
    await consumer.disconnect()
  }
  return seen
}

describe('kafka', () => {
  it('creates topics with the admin client', async () => {
    const topic = uniqueName('t')
    cleanups.push(await createTestTopics(admin, [{ topic, numPartitions: 3 }]))
    const meta = await admin.fetchTopicMetadata({ topics: [topic] })
    expect(meta.topics[0]?.partitions).toHaveLength(3)
  })

  it('produces and consumes in order', async () => {
    const topic = uniqueName('t')
    cleanups.push(await createTestTopics(admin, [{ topic }]))
    const producer = kafkajsOf(kafka).producer({ idempotent: true })
    await producer.connect()
    const values = Array.from({ length: 50 }, (_, i) => `m${i}`)
    await producer.send({ topic, acks: -1, messages: values.map((value) => ({ value })) })
    await producer.disconnect()
    expect(await consumeAll(topic, 50, 'read_uncommitted')).toEqual(values)
  })

  it('commits a transaction with sendOffsets; read_committed sees only committed records', async () => {
    const input = uniqueName('in')
    const output = uniqueName('out')
    const groupId = uniqueName('g')
    cleanups.push(await createTestTopics(admin, [{ topic: input }, { topic: output }]))

    const aborted = kafkajsOf(kafka).producer({
      transactionalId: uniqueName('tx'),
      idempotent: true,
      maxInFlightRequests: 1,
    })
    await aborted.connect()
    const tx1 = await aborted.transaction()
    await tx1.send({ topic: output, messages: [{ value: 'aborted' }] })
    await tx1.abort()
    await aborted.disconnect()

    const producer = kafkajsOf(kafka).producer({
      transactionalId: uniqueName('tx'),
      idempotent: true,
      maxInFlightRequests: 1,
    })
    await producer.connect()
    const tx = await producer.transaction()
    await tx.send({ topic: output, messages: [{ value: 'committed-1' }, { value: 'committed-2' }] })
    await tx.sendOffsets({
      consumerGroupId: groupId,
      topics: [{ topic: input, partitions: [{ partition: 0, offset: '42' }] }],
    })
    await tx.commit()
    await producer.disconnect()

    const committed = await consumeAll(output, 2, 'read_committed')
    expect(committed).toEqual(['committed-1', 'committed-2'])
    // read_uncommitted sees the aborted record too: the isolation is real
    const all = await consumeAll(output, 3, 'read_uncommitted')
    expect(all).toContain('aborted')

    const raw = kafkajsOf(kafka).admin()
    await raw.connect()
    const offsets = await raw.fetchOffsets({ groupId, topics: [input] }).finally(() => raw.disconnect())
    expect(offsets[0]?.partitions[0]?.offset).toBe('42')
    await admin.deleteGroups([groupId])
  })
})

describe('schema registry (Confluent-compatible API)', () => {
  const recordV1 = { type: 'record', name: 'Probe', namespace: 'xrc.test', fields: [{ name: 'id', type: 'long' }] }
  const recordV2 = { ...recordV1, fields: [...recordV1.fields, { name: 'note', type: 'string', default: '' }] }

  it('registers a new subject and a second version, encodes in the wire format and decodes', async () => {
    const registry = testRegistry()
    const subject = uniqueName('subject')
    cleanups.push(() => deleteSubject(subject))
    const v1 = await registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(recordV1) },
      { subject, compatibility: COMPATIBILITY.BACKWARD },
    )
    const v2 = await registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(recordV2) },
      { subject, compatibility: COMPATIBILITY.BACKWARD },
    )
    expect(v2.id).not.toBe(v1.id)
    expect(await registry.getLatestSchemaId(subject)).toBe(v2.id)

    const encoded = await registry.encode(v2.id, { id: 7, note: 'hello' })
    expect(encoded[0]).toBe(0) // magic byte
    expect(encoded.readInt32BE(1)).toBe(v2.id) // 4-byte schema id
    expect(await registry.decode(encoded)).toEqual({ id: 7, note: 'hello' })
    // a fresh client resolves the id through the registry, not its cache
    expect(await testRegistry().decode(encoded)).toEqual({ id: 7, note: 'hello' })
  })

  it('refuses an incompatible second version', async () => {
    const registry = testRegistry()
    const subject = uniqueName('subject')
    cleanups.push(() => deleteSubject(subject))
    await registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(recordV1) },
      { subject, compatibility: COMPATIBILITY.BACKWARD },
    )
    const incompatible = { ...recordV1, fields: [{ name: 'id', type: 'string' }] }
    await expect(
      registry.register(
        { type: SchemaType.AVRO, schema: JSON.stringify(incompatible) },
        { subject, compatibility: COMPATIBILITY.BACKWARD },
      ),
    ).rejects.toThrow()
  })
})

describe('postgresql', () => {
  it('writes and reads bytea in its own schema', async () => {
    const { schema, client, drop } = await createTestSchema()
    try {
      await client.query(`CREATE TABLE "${schema}".blocks (id int PRIMARY KEY, data bytea NOT NULL)`)
      const data = Buffer.alloc(4096, 0xab)
      await client.query(`INSERT INTO "${schema}".blocks VALUES ($1, $2)`, [1, data])
      const r = await client.query<{ data: Buffer }>(`SELECT data FROM "${schema}".blocks WHERE id = 1`)
      expect(r.rows[0]?.data.equals(data)).toBe(true)
    } finally {
      await drop()
    }
  })
})
