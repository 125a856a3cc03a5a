/**
 * The seam's transactional producer and partition reader (lib/kafka/client)
 * on each Kafka client library, against the real broker: committed
 * transactions are read, aborted ones and one left open by a dead producer
 * are not, and a producer of the same transactional id fences the older
 * one (as the mover's journal relies on).
 */
import { describe, expect, it } from 'vitest'
import { KAFKA_CLIENTS, createTransactionalProducer, type ProduceRecord } from '../../lib/kafka/client/index.js'
import { createPartitionReader } from '../../lib/kafka/index.js'
import { silentLogger } from '../../lib/logger.js'
import { waitFor } from '../../lib/retry.js'
import { isFencedError } from '../../mover/journal/writeFailure.js'
import { uniqueName } from '../kit/names.js'
import { testKafka } from '../kit/servers.js'
import { kafkajsOf } from '../../lib/kafka/client/kafkaClient.js'
import { keptCoordinators } from '../../lib/kafka/client/kafkajsProducer.js'

const record = (value: string): ProduceRecord => ({ partition: 0, key: value, value: Buffer.from(value), headers: {} })

describe.each(KAFKA_CLIENTS)('Kafka client %s', (client) => {
  it('reads committed transactions only, and fences an older producer of the same transactional id', async () => {
    const kafka = testKafka(uniqueName('clients'), client)
    const topic = uniqueName('clients')
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
    await admin.disconnect()
    const producer = (transactionalId: string) =>
      createTransactionalProducer(kafka, {
        clientId: uniqueName('tx'),
        transactionalId,
        transactionTimeoutMs: 30_000,
      })
    const id = uniqueName('txid')
    const a = producer(id)
    await a.connect()
    for (const [value, commit] of [
      ['a1', true],
      ['x', false],
      ['a2', true],
    ] as const) {
      const tx = await a.begin()
      await tx.send(topic, [record(value)])
      if (commit) await tx.commit()
      else await tx.abort()
      expect(tx.isActive()).toBe(false)
    }
    // a second producer of the id claims it: the first is fenced, and nothing of it lands
    const b = producer(id)
    await b.connect()
    await (await b.begin()).abort()
    const zombie = (async () => {
      const tx = await a.begin()
      await tx.send(topic, [record('zombie')])
      await tx.commit()
    })()
    const fenced = await zombie.then(
      () => undefined,
      (err: unknown) => err,
    )
    expect(isFencedError(fenced), String(fenced)).toBe(true)
    // a producer that dies with its transaction open: the next one of its id settles it (aborted) first
    const other = uniqueName('txid')
    const dead = producer(other)
    await dead.connect()
    const open = await dead.begin()
    await open.send(topic, [record('open')])
    await dead.close()
    const next = producer(other)
    await next.connect()
    const tx = await next.begin()
    await tx.send(topic, [record('d')])
    await tx.commit()
    for (const p of [a, b, next]) await p.close()

    const seen: string[] = []
    const reader = createPartitionReader({
      kafka,
      topic,
      isolation: 'read_committed',
      groupPrefix: uniqueName('clients-reader'),
      logger: silentLogger,
      onBatch: async (batch) => void seen.push(...batch.messages.map((m) => String(m.value))),
    })
    await reader.start()
    try {
      await waitFor('the committed records', () => (seen.includes('d') ? true : undefined), { timeoutMs: 30_000 })
    } finally {
      await reader.stop()
    }
    expect(seen).toEqual(['a1', 'a2', 'd'])
  }, 120_000)
})

describe('kafkajs transactions', () => {
  it('look the transaction coordinator up once, not before every call to it (kafkajsCoordinator.ts)', async () => {
    expect(keptCoordinators).toEqual({ kept: true })
    const kafka = kafkajsOf(testKafka(uniqueName('coordinator'), 'kafkajs'))
    const topic = uniqueName('coordinator')
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
    await admin.disconnect()
    const producer = kafka.producer({ transactionalId: uniqueName('txid'), idempotent: true, maxInFlightRequests: 1 })
    const requests = new Map<string, number>()
    producer.on(producer.events.REQUEST, (e) =>
      requests.set(e.payload.apiName, (requests.get(e.payload.apiName) ?? 0) + 1),
    )
    await producer.connect()
    const transactions = 5
    try {
      for (let i = 0; i < transactions; i++) {
        const tx = await producer.transaction()
        await tx.send({ topic, messages: [{ partition: 0, value: `v${i}` }] })
        await tx.commit()
      }
    } finally {
      await producer.disconnect()
    }
    expect(requests.get('EndTxn')).toBe(transactions)
    expect(requests.get('Produce')).toBe(transactions)
    // (AddPartitionsToTxn may be sent again: CONCURRENT_TRANSACTIONS while the last commit's markers are written)
    expect(requests.get('AddPartitionsToTxn')).toBeGreaterThanOrEqual(transactions)
    // FindCoordinator (kafkajs calls it GroupCoordinator): kafkajs's own sent one before InitProducerId and two per
    // transaction (11 here)
    expect(requests.get('GroupCoordinator')).toBe(1)
  }, 60_000)
})
