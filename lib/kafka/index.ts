/**
 * Kafka plumbing shared by every stage and the tools: the client, its
 * CRC-32C, the partition reader at explicit offsets, the bounded topic
 * reader and topic admin.
 */
export {
  type KafkaAdmin,
  type KafkaClient,
  type KafkaClientName,
  type KafkaClientOptions,
  type ReadRecord,
  type RecordHeaders,
  type IdempotentProducer,
  type TransactionalProducer,
  connectAdmin,
  connectIdempotentProducer,
  createKafkaClient,
  createTransactionalProducer,
  producibleHeaders,
  sendWhole,
} from './client/index.js'
export { KAFKA_CALL_DEADLINE_MS, type PartitionOffsets, TopicOffsets, withinDeadline } from './callDeadline.js'
export { type AccessContext, authorizationErrorOf, isKafkaAccessFailure, kafkaAccessError } from './accessErrors.js'
export {
  type AclGrant,
  type AclOperation,
  type Stage,
  STAGES,
  aclEntries,
  kafkaAclsCommands,
  permissionPhrase,
  stageAcls,
  stagePermissions,
} from './stageAcls.js'
export {
  type PartitionBatch,
  type PartitionReader,
  type PartitionReaderOptions,
  createPartitionReader,
} from './client/partitionReader.js'
export {
  type PartitionReplicas,
  type TopicReplication,
  defaultMinInsyncReplicas,
  defaultReplicationFactor,
  describePartitions,
  isUnderReplicated,
  resolveReplication,
} from './replication.js'
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
  whileSettling,
  journalTopicSpec,
  type TopicSpec,
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
