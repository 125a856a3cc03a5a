/**
 * Kafka plumbing shared by every stage: the client, its CRC-32C, the
 * partition reader at explicit offsets, bounded topic scans and topic admin.
 */
export { connectAdmin, createKafka } from './kafka.js'
export { type PartitionBatch, type PartitionReader, createPartitionReader } from './partitionReader.js'
export {
  KAFKA_FRAMING_BYTES,
  appliedTopicSpec,
  controlTopicSpec,
  deadLetterTopicSpec,
  ensureTopic,
  journalTopicSpec,
  updatesTopicSpec,
} from './topicAdmin.js'
export { scanTopic } from './topicScan.js'
