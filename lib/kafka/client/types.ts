/**
 * The seam between the stages and a Kafka client library: what a stage asks
 * of Kafka, in the project's own terms, whichever library answers it.
 * `kafka.client` chooses the library per process (README "Choosing the
 * Kafka client"); only the files of this folder import one.
 */
import type { KafkaConnection } from '../../config.js'
import type { Logger } from '../../logger.js'

/** The Kafka client libraries xrc runs on. */
export const KAFKA_CLIENTS = ['kafkajs', 'platformatic'] as const
export type KafkaClientName = (typeof KAFKA_CLIENTS)[number]

/** One record to produce, to a partition chosen by the caller. */
export interface ProduceRecord {
  partition: number
  key: string
  /** null: a record without a value (a tombstone, or a dead letter whose value was left out). */
  value: Buffer | null
  headers: Readonly<Record<string, string | Buffer>>
}

/**
 * An idempotent producer (acks=all, one request in flight per broker): a
 * resend of records it failed to send is written at most once while it lives.
 */
export interface IdempotentProducer {
  /** The library that answers (logs, status). */
  readonly client: KafkaClientName
  /**
   * Sends the records in one call and resolves with the partitions of `topic`
   * the answer shows written; a partition not in it was not written (the
   * caller sends its records again). Rejects with an error whose `retriable`
   * says whether sending again may succeed.
   */
  send(topic: string, records: readonly ProduceRecord[]): Promise<ReadonlySet<number>>
  /** Closes the connections; what is in flight fails. */
  close(): Promise<void>
}

export interface ProducerOptions {
  /** Brokers, TLS and SASL: config.kafka itself (its password is non-enumerable: never a spread copy). */
  connection: KafkaConnection
  clientId: string
  logger: Logger
  /** Tries of one request inside the library before a send fails (the caller resends then). */
  retries?: number
}

/** A transactional producer's options: its transactional id and how long a transaction may stay open. */
export interface TransactionalProducerOptions extends ProducerOptions {
  transactionalId: string
  transactionTimeoutMs: number
  /** First delay between two tries of one request (doubled up to 2 s), ms. */
  retryDelayMs?: number
}

/**
 * A transactional producer (idempotent, acks=all). Its first begin() claims
 * the transactional id (InitProducerId): it fences any older producer of the
 * id and settles whatever that one left open. A failed call leaves it
 * unusable: the caller closes it and makes a new one, so that nothing of an
 * old transaction can land on a later one.
 */
export interface TransactionalProducer {
  readonly client: KafkaClientName
  /** Connects to the brokers (the id is claimed by the first begin()). */
  connect(): Promise<void>
  begin(): Promise<ProducerTransaction>
  /** Closes the connections without waiting for what is in flight (the next InitProducerId fences it). */
  close(): Promise<void>
}

export interface ProducerTransaction {
  /** Sends the records as part of the transaction (the first send to a partition adds it). */
  send(topic: string, records: readonly ProduceRecord[]): Promise<void>
  commit(): Promise<void>
  abort(): Promise<void>
  /** Begun, and neither committed nor aborted. */
  isActive(): boolean
}
