/**
 * The idempotent producer on kafkajs. kafkajs does not reassign sequence
 * numbers after a failed batch as the Java client does (KAFKA-5494); it
 * serializes produce requests per broker under a lock and rolls a
 * partition's sequence back when a request fails, hence one request in
 * flight (what KIP-98 required of idempotence).
 *
 * kafkajs 2.2's send() can resolve without writing a partition: it keeps one
 * response per broker across its retries, so when a leader dies and the
 * partition moves to a broker that had already answered for another
 * partition of the same call, the retry skips that broker and the
 * partition's records are never sent (seen on a three-node cluster; compare
 * tulios/kafkajs#1798). The answer lists every partition written, and
 * send() returns only those: the caller sends the rest again.
 */
import kafkajs, { type Kafka, type Producer, type RecordMetadata } from 'kafkajs'
import type {
  IdempotentProducer,
  ProduceRecord,
  ProducerOptions,
  ProducerTransaction,
  TransactionalProducer,
  TransactionalProducerOptions,
} from './types.js'
import { patchKafkajsCoordinator } from './kafkajsCoordinator.js'

// kafkajs is CommonJS: Node's ESM loader sees only some of its named exports, so take these from the default export
const { Partitioners } = kafkajs

/** Whether kafkajs keeps a transaction coordinator it found (kafkajsCoordinator.ts), or why not. */
export const keptCoordinators: { kept: boolean; reason?: string } = (() => {
  const reason = patchKafkajsCoordinator()
  return reason === undefined ? { kept: true } : { kept: false, reason }
})()

/** The partitions of `topic` a kafkajs answer shows written (errorCode 0). */
export function writtenPartitions(topic: string, answer: readonly RecordMetadata[]): Set<number> {
  return new Set(answer.filter((m) => m.topicName === topic && m.errorCode === 0).map((m) => m.partition))
}

class KafkajsProducer implements IdempotentProducer {
  readonly client = 'kafkajs' as const
  readonly #producer: Producer

  constructor(producer: Producer) {
    this.#producer = producer
  }

  async send(topic: string, records: readonly ProduceRecord[]): Promise<ReadonlySet<number>> {
    const answer = await this.#producer.send({
      topic,
      acks: -1,
      messages: records.map((r) => ({ partition: r.partition, key: r.key, value: r.value, headers: { ...r.headers } })),
    })
    return writtenPartitions(topic, answer)
  }

  close(): Promise<void> {
    return this.#producer.disconnect()
  }
}

/** A connected idempotent producer on kafkajs, of `kafka`. */
export async function connectKafkajsProducer(options: ProducerOptions & { kafka: Kafka }): Promise<IdempotentProducer> {
  const { kafka } = options
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
    // a few quick retries inside kafkajs; past them the caller backs off and resends the same batch, so an outage
    // shows in status. kafkajs warns that limited retries may break exactly-once: resending the same batch, in order,
    // one at a time per partition, is what keeps it (and the mover drops any duplicate by seq).
    retry: { retries: options.retries ?? 5, initialRetryTime: 100, maxRetryTime: 2000 },
  })
  try {
    await producer.connect()
  } catch (err) {
    await producer.disconnect().catch(() => undefined)
    throw err
  }
  return new KafkajsProducer(producer)
}

class KafkajsTransactionalProducer implements TransactionalProducer {
  readonly client = 'kafkajs' as const
  readonly #producer: Producer

  constructor(producer: Producer) {
    this.#producer = producer
  }

  connect(): Promise<void> {
    return this.#producer.connect()
  }

  async begin(): Promise<ProducerTransaction> {
    // kafkajs sends InitProducerId on a producer's first transaction
    const tx = await this.#producer.transaction()
    return {
      send: async (topic, records) => {
        await tx.send({ topic, acks: -1, messages: records.map((r) => ({ ...r, headers: { ...r.headers } })) })
      },
      commit: () => tx.commit(),
      abort: () => tx.abort(),
      isActive: () => tx.isActive(),
    }
  }

  close(): Promise<void> {
    return this.#producer.disconnect()
  }
}

/** A transactional producer on kafkajs, of `kafka`, not connected yet. */
export function createKafkajsTransactional(
  options: TransactionalProducerOptions & { kafka: Kafka },
): TransactionalProducer {
  const { kafka } = options
  const initialRetryTime = options.retryDelayMs ?? 10
  const producer = kafka.producer({
    transactionalId: options.transactionalId,
    idempotent: true,
    maxInFlightRequests: 1,
    transactionTimeout: options.transactionTimeoutMs,
    // CONCURRENT_TRANSACTIONS while the broker writes the previous commit's markers: retried after 10 ms, not
    // kafkajs's 300 ms; about 10 s of retries in all, then the call fails
    retry: { retries: options.retries ?? 12, initialRetryTime, maxRetryTime: 2000 },
  })
  return new KafkajsTransactionalProducer(producer)
}
