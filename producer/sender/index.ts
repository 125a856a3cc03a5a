/**
 * The write path to Kafka: record sets cut from the sidefiles, one idempotent
 * producer per controller (kafkaTransport), the sender's retry and heartbeats.
 */
export { type Transport, createKafkaTransport } from './kafkaTransport.js'
export { type KafkaState, type Sender, createSender } from './sender.js'
