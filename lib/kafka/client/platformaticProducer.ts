/**
 * The idempotent producer on @platformatic/kafka: one Producer, acks=all,
 * one request in flight per broker, its sequences advanced only for
 * partitions a broker acknowledged (so a resend after a failure carries the
 * same sequences and the broker writes it once).
 */
import { Producer, ProduceAcks, type SASLOptions } from '@platformatic/kafka'
import type { KafkaConnection } from '../../config.js'
import { kafkajsSecurity } from './clientSecurity.js'
import { fromPlatformatic } from './clientErrors.js'
import type {
  IdempotentProducer,
  ProduceRecord,
  ProducerOptions,
  ProducerTransaction,
  TransactionalProducer,
  TransactionalProducerOptions,
} from './types.js'

/** @platformatic/kafka's connection options for `connection`: brokers, TLS (files read now) and SASL. */
export function platformaticConnection(connection: KafkaConnection): {
  bootstrapBrokers: string[]
  tls?: NonNullable<ReturnType<typeof kafkajsSecurity>['ssl']> & object
  sasl?: SASLOptions
} {
  const { ssl } = kafkajsSecurity(connection)
  const { sasl } = connection
  return {
    bootstrapBrokers: [...connection.brokers],
    ...(typeof ssl === 'object' ? { tls: ssl } : {}),
    ...(sasl === undefined
      ? {}
      : { sasl: { mechanism: sasl.mechanism, username: sasl.username, password: () => sasl.password ?? '' } }),
  }
}

class PlatformaticProducer implements IdempotentProducer {
  readonly client = 'platformatic' as const
  readonly #producer: Producer<string, Buffer | null, string, string | Buffer>

  constructor(producer: Producer<string, Buffer | null, string, string | Buffer>) {
    this.#producer = producer
  }

  async send(topic: string, records: readonly ProduceRecord[]): Promise<ReadonlySet<number>> {
    try {
      const result = await this.#producer.send({ messages: toMessages(topic, records) })
      return new Set((result.offsets ?? []).filter((o) => o.topic === topic).map((o) => o.partition))
    } catch (err) {
      throw fromPlatformatic(err)
    }
  }

  async close(): Promise<void> {
    await closeNow(this.#producer)
  }
}

/**
 * What both producers share: idempotent, acks=all, one request in flight per broker, string keys and headers. A
 * new producer asks InitProducerId for no producer id and epoch (-1, -1), as the Java client does: the library's
 * default (0, 0) claims to be producer 0 of epoch 0, and a broker that knows a transactional id answers
 * PRODUCER_FENCED to every producer of it after the first (KIP-360).
 */
function producerBase(options: ProducerOptions) {
  return {
    clientId: options.clientId,
    ...platformaticConnection(options.connection),
    producerId: -1n,
    producerEpoch: -1,
    idempotent: true,
    acks: ProduceAcks.ALL,
    maxInflights: 1,
    autocreateTopics: false,
    connectTimeout: 3000,
    requestTimeout: 30_000,
    serializers: { key: utf8, headerKey: utf8, headerValue: utf8 },
  }
}

/** A connected idempotent producer (its producer id taken) on @platformatic/kafka. */
export async function connectPlatformaticProducer(options: ProducerOptions): Promise<IdempotentProducer> {
  const producer = new Producer<string, Buffer | null, string, string | Buffer>({
    ...producerBase(options),
    timeout: 30_000,
    retries: options.retries ?? 5,
    retryDelay: 100,
  })
  try {
    await producer.initIdempotentProducer({})
  } catch (err) {
    await closeNow(producer)
    throw fromPlatformatic(err)
  }
  return new PlatformaticProducer(producer)
}

function utf8(text?: string | Buffer): Buffer | undefined {
  return text === undefined || Buffer.isBuffer(text) ? text : Buffer.from(text, 'utf8')
}

/** Closes `client` at once, failing what is in flight; never rejects (nothing to close when it never connected). */
function closeNow(client: { close(force: boolean, callback: (error?: Error | null) => void): void }): Promise<void> {
  return new Promise((resolve) => client.close(true, () => resolve()))
}

class PlatformaticTransactionalProducer implements TransactionalProducer {
  readonly client = 'platformatic' as const
  readonly #producer: Producer<string, Buffer | null, string, string | Buffer>

  constructor(producer: Producer<string, Buffer | null, string, string | Buffer>) {
    this.#producer = producer
  }

  /** Nothing to do: the library connects on the first request. */
  connect(): Promise<void> {
    return Promise.resolve()
  }

  async begin(): Promise<ProducerTransaction> {
    // the first begin finds the coordinator and sends InitProducerId
    const tx = await this.#producer.beginTransaction().catch((err: unknown) => {
      throw fromPlatformatic(err)
    })
    let sent = false
    const end = async (commit: boolean): Promise<void> => {
      try {
        // nothing sent: no partition is in the transaction, and there is nothing to end at the broker
        if (!sent) await tx.cancel()
        else if (commit) await tx.commit()
        else await tx.abort()
      } catch (err) {
        throw fromPlatformatic(err)
      }
    }
    return {
      send: async (topic, records) => {
        sent = true
        await tx.send({ messages: toMessages(topic, records) }).catch((err: unknown) => {
          throw fromPlatformatic(err)
        })
      },
      commit: () => end(true),
      abort: () => end(false),
      isActive: () => !tx.completed,
    }
  }

  close(): Promise<void> {
    return closeNow(this.#producer)
  }
}

/**
 * A transactional producer on @platformatic/kafka; it connects on its first begin(). Its `timeout` is the
 * transaction timeout (the library sends that one setting as InitProducerId's transaction timeout).
 */
export function createPlatformaticTransactional(options: TransactionalProducerOptions): TransactionalProducer {
  const initial = options.retryDelayMs ?? 10
  const producer = new Producer<string, Buffer | null, string, string | Buffer>({
    ...producerBase(options),
    transactionalId: options.transactionalId,
    timeout: options.transactionTimeoutMs,
    retries: options.retries ?? 12,
    retryDelay: (_client, _operation, attempt) => Math.min(initial * 2 ** (attempt - 1), 2000),
  })
  return new PlatformaticTransactionalProducer(producer)
}

/** Records of the seam as @platformatic/kafka's messages to `topic`. */
function toMessages(
  topic: string,
  records: readonly ProduceRecord[],
): { topic: string; partition: number; key: string; value: Buffer | null; headers: Record<string, string | Buffer> }[] {
  return records.map((r) => ({
    topic,
    partition: r.partition,
    key: r.key,
    value: r.value,
    headers: r.headers as Record<string, string | Buffer>,
  }))
}
