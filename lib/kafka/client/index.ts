/**
 * The seam between the stages and the Kafka client libraries (kafkajs and
 * @platformatic/kafka): what a stage asks of Kafka, whichever library
 * `kafka.client` chose. Only this folder imports either library (eslint's
 * no-restricted-imports holds the rest of the code to it).
 */
import { kafkajsOf, type KafkaClient } from './kafkaClient.js'
import { connectKafkajsProducer, createKafkajsTransactional } from './kafkajsProducer.js'
import { connectPlatformaticProducer, createPlatformaticTransactional } from './platformaticProducer.js'
import { KafkaClientError } from './clientErrors.js'
import type { IdempotentProducer, KafkaClientName, ProduceRecord, TransactionalProducer } from './types.js'

export {
  KAFKA_CLIENTS,
  type IdempotentProducer,
  type KafkaClientName,
  type ProduceRecord,
  type ProducerTransaction,
  type TransactionalProducer,
} from './types.js'
export type {
  AclAllow,
  ClusterDescription,
  GroupDescription,
  KafkaAdmin,
  NewTopic,
  PartitionMetadata,
  PartitionOffsets,
  TopicMetadata,
} from './adminTypes.js'
export { type ClientFailure, KafkaClientError, platformaticFailure } from './clientErrors.js'
export {
  type KafkaClient,
  type KafkaClientOptions,
  connectAdmin,
  createKafkaClient,
  kafkajsLevel,
} from './kafkaClient.js'
export { checkTlsHandshake, kafkajsSecurity } from './clientSecurity.js'
export type { ReadRecord, RecordHeaders } from './fetchedRecords.js'
import type { RecordHeaders } from './fetchedRecords.js'

export interface ProducerChoice {
  /** The library; the client's own (kafka.client) when not given. */
  library?: KafkaClientName
  /** The client id the producer names itself with (@platformatic/kafka); the client's when not given. */
  clientId?: string
  /** Tries of one request inside the library before a send fails (the caller resends then). */
  retries?: number
}

/** A connected idempotent producer of `kafka`. */
export function connectIdempotentProducer(
  kafka: KafkaClient,
  choice: ProducerChoice = {},
): Promise<IdempotentProducer> {
  const options = producerOptions(kafka, choice)
  return (choice.library ?? kafka.library) === 'platformatic'
    ? connectPlatformaticProducer(options)
    : connectKafkajsProducer({ ...options, kafka: kafkajsOf(kafka) })
}

/** A transactional producer of `kafka`, not connected yet (connect(), then the first begin() claims the id). */
export function createTransactionalProducer(
  kafka: KafkaClient,
  choice: ProducerChoice & {
    transactionalId: string
    /** How long a transaction may stay open before the broker aborts it, ms. */
    transactionTimeoutMs: number
    /** First delay between two tries of one request (doubled up to 2 s), ms. */
    retryDelayMs?: number
  },
): TransactionalProducer {
  const options = {
    ...producerOptions(kafka, choice),
    transactionalId: choice.transactionalId,
    transactionTimeoutMs: choice.transactionTimeoutMs,
    ...(choice.retryDelayMs === undefined ? {} : { retryDelayMs: choice.retryDelayMs }),
  }
  return (choice.library ?? kafka.library) === 'platformatic'
    ? createPlatformaticTransactional(options)
    : createKafkajsTransactional({ ...options, kafka: kafkajsOf(kafka) })
}

function producerOptions(kafka: KafkaClient, choice: ProducerChoice) {
  return {
    connection: kafka.connection,
    clientId: choice.clientId ?? kafka.clientId,
    logger: kafka.logger,
    ...(choice.retries === undefined ? {} : { retries: choice.retries }),
  }
}

/**
 * Sends `records` and resolves once every partition they go to was written; rejects (retriable) naming the partitions
 * the answer left out: for the small writers (dead letters, commands, the applied state) that send and are done.
 */
export async function sendWhole(
  producer: IdempotentProducer,
  topic: string,
  records: readonly ProduceRecord[],
): Promise<void> {
  const written = await producer.send(topic, records)
  const missing = [...new Set(records.map((r) => r.partition))].filter((p) => !written.has(p))
  if (missing.length > 0)
    throw new KafkaClientError(
      `the answer to a produce request to ${topic} left out partition ${missing.join(', ')}`,
      { retriable: true, authentication: false },
      undefined,
    )
}

/** A read record's headers as a produced record's: a repeated header keeps its last value (Kafka's lastHeader). */
export function producibleHeaders(headers: RecordHeaders | undefined): Record<string, string | Buffer> {
  const out: Record<string, string | Buffer> = {}
  for (const [name, value] of Object.entries(headers ?? {})) {
    const last = Array.isArray(value) ? value[value.length - 1] : value
    if (last !== undefined) out[name] = last
  }
  return out
}
