/**
 * The seam between the stages and the Kafka client libraries (kafkajs and
 * @platformatic/kafka): what a stage asks of Kafka, whichever library
 * `kafka.client` chose. Only this folder imports @platformatic/kafka.
 */
import type { Kafka } from 'kafkajs'
import { connectKafkajsProducer, createKafkajsTransactional } from './kafkajsProducer.js'
import { connectPlatformaticProducer, createPlatformaticTransactional } from './platformaticProducer.js'
import type {
  IdempotentProducer,
  KafkaClientName,
  ProducerOptions,
  TransactionalProducer,
  TransactionalProducerOptions,
} from './types.js'

export {
  KAFKA_CLIENTS,
  type IdempotentProducer,
  type KafkaClientName,
  type ProduceRecord,
  type ProducerTransaction,
  type TransactionalProducer,
} from './types.js'
export { type ClientFailure, KafkaClientError, platformaticFailure } from './clientErrors.js'

/**
 * A connected idempotent producer of `client`. With kafkajs, `kafka` (a
 * client the caller already has) is used when given.
 */
export function connectIdempotentProducer(
  client: KafkaClientName,
  options: ProducerOptions & { kafka?: Kafka },
): Promise<IdempotentProducer> {
  return client === 'platformatic' ? connectPlatformaticProducer(options) : connectKafkajsProducer(options)
}

/**
 * A transactional producer of `client`, not connected yet (connect(), then the first begin() claims the id). With
 * kafkajs, `kafka` (a client the caller already has) is used when given.
 */
export function createTransactionalProducer(
  client: KafkaClientName,
  options: TransactionalProducerOptions & { kafka?: Kafka },
): TransactionalProducer {
  return client === 'platformatic' ? createPlatformaticTransactional(options) : createKafkajsTransactional(options)
}
