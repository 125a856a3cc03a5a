/**
 * The idempotent producer on @platformatic/kafka: one Producer, acks=all,
 * one request in flight per broker, its sequences advanced only for
 * partitions a broker acknowledged (so a resend after a failure carries the
 * same sequences and the broker writes it once).
 */
import { Producer, ProduceAcks, type SASLOptions } from '@platformatic/kafka'
import type { KafkaConnection } from '../../config.js'
import { kafkajsSecurity } from '../clientSecurity.js'
import { fromPlatformatic } from './clientErrors.js'
import type { IdempotentProducer, ProduceRecord, ProducerOptions } from './types.js'

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
  readonly #producer: Producer<string, Buffer, string, string>

  constructor(producer: Producer<string, Buffer, string, string>) {
    this.#producer = producer
  }

  async send(topic: string, records: readonly ProduceRecord[]): Promise<ReadonlySet<number>> {
    try {
      const result = await this.#producer.send({
        messages: records.map((r) => ({
          topic,
          partition: r.partition,
          key: r.key,
          value: r.value,
          headers: r.headers as Record<string, string>,
        })),
      })
      return new Set((result.offsets ?? []).filter((o) => o.topic === topic).map((o) => o.partition))
    } catch (err) {
      throw fromPlatformatic(err)
    }
  }

  async close(): Promise<void> {
    await closeNow(this.#producer)
  }
}

/** A connected idempotent producer (its producer id taken) on @platformatic/kafka. */
export async function connectPlatformaticProducer(options: ProducerOptions): Promise<IdempotentProducer> {
  const producer = new Producer<string, Buffer, string, string>({
    clientId: options.clientId,
    ...platformaticConnection(options.connection),
    idempotent: true,
    acks: ProduceAcks.ALL,
    maxInflights: 1,
    autocreateTopics: false,
    connectTimeout: 3000,
    requestTimeout: 30_000,
    timeout: 30_000,
    retries: options.retries ?? 5,
    retryDelay: 100,
    serializers: { key: utf8, headerKey: utf8, headerValue: utf8 },
  })
  try {
    await producer.initIdempotentProducer({})
  } catch (err) {
    await closeNow(producer)
    throw fromPlatformatic(err)
  }
  return new PlatformaticProducer(producer)
}

function utf8(text?: string): Buffer | undefined {
  return text === undefined ? undefined : Buffer.from(text, 'utf8')
}

/** Closes `client` at once, failing what is in flight; never rejects (nothing to close when it never connected). */
function closeNow(client: { close(force: boolean, callback: (error?: Error | null) => void): void }): Promise<void> {
  return new Promise((resolve) => client.close(true, () => resolve()))
}
