/**
 * Kafka plumbing shared by every stage and the tools: the client, its
 * CRC-32C, the partition reader at explicit offsets, the bounded topic
 * reader and topic admin.
 */
export { connectAdmin, createKafka } from './kafka.js'
export { type PartitionBatch, type PartitionReader, createPartitionReader } from './partitionReader.js'
export {
  type Retention,
  type RetentionProblem,
  checkUpdatesRetention,
  describeRetention,
  retentionProblem,
} from './retention.js'
export {
  KAFKA_FRAMING_BYTES,
  appliedTopicSpec,
  controlTopicSpec,
  deadLetterTopicSpec,
  ensureTopic,
  journalTopicSpec,
  updatesTopicSpec,
} from './topicAdmin.js'
export {
  type RangeOptions,
  type RangeResult,
  type TopicScanOptions,
  headerNumber,
  headerString,
  partitionOffsets,
  readRange,
  scanTopic,
} from './topicRange.js'
