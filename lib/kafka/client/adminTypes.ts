/**
 * The admin calls the stages and the CLI make, in the project's own terms:
 * topics and their configs, offsets, the cluster, reader groups and ACLs.
 * Offsets are decimal strings (Kafka's are 64-bit). Two implementations:
 * `kafkajsAdmin.ts` and `platformaticAdmin.ts`.
 */
import type { KafkaClientName } from './types.js'

/** A topic to create. */
export interface NewTopic {
  topic: string
  numPartitions: number
  /** The broker's default (default.replication.factor) when not given. */
  replicationFactor?: number
  configEntries?: ReadonlyArray<{ name: string; value: string }>
}

export interface PartitionMetadata {
  partitionId: number
  /** The leader's node id; -1 when the partition has none. */
  leader: number
  replicas: number[]
  isr: number[]
  offlineReplicas: number[]
}

export interface TopicMetadata {
  name: string
  partitions: PartitionMetadata[]
}

/** A partition's log start (`low`) and end (`high`; `offset` is the same: the next offset to be written). */
export interface PartitionOffsets {
  partition: number
  offset: string
  high: string
  low: string
}

export interface ClusterDescription {
  brokers: Array<{ nodeId: number; host: string; port: number }>
  /** The active controller's node id, when the broker names one. */
  controller: number | null
  clusterId: string
}

/** A consumer group as describeGroups answers it. */
export interface GroupDescription {
  groupId: string
  /** Kafka's state name: Empty, Stable, PreparingRebalance, CompletingRebalance, Dead. */
  state: string
  members: number
}

/** An ACL allowing one operation on one resource to one principal, from any host. */
export interface AclAllow {
  resourceType: 'TOPIC' | 'GROUP' | 'TRANSACTIONAL_ID'
  resourceName: string
  pattern: 'LITERAL' | 'PREFIXED'
  /** User:NAME */
  principal: string
  operation: 'READ' | 'WRITE' | 'CREATE' | 'DESCRIBE' | 'DESCRIBE_CONFIGS' | 'DELETE' | 'ALL'
}

/**
 * An admin client: connect() first, disconnect() when done. Failures are the library's errors mapped as the
 * producers' are (`retriable`, Kafka's error name as `type`; see
 * clientErrors.ts), except that kafkajs's own errors pass as kafkajs throws
 * them (accessErrors.ts reads both).
 */
export interface KafkaAdmin {
  readonly client: KafkaClientName
  /** Connects to the cluster (fails when no broker answers). */
  connect(): Promise<void>
  /** Closes the connections. */
  disconnect(): Promise<void>
  listTopics(): Promise<string[]>
  /**
   * Creates the topics that do not exist; resolves true when it created all of them, false when one existed
   * already (not an error). With `waitForLeaders`, resolves once every new partition has a leader.
   */
  createTopics(options: { topics: readonly NewTopic[]; waitForLeaders?: boolean; timeout?: number }): Promise<boolean>
  /** Deletes the topics; an unknown topic is an error (UNKNOWN_TOPIC_OR_PARTITION). */
  deleteTopics(options: { topics: readonly string[]; timeout?: number }): Promise<void>
  /** The topics' partitions, leaders and replicas; an unknown topic is an error. */
  fetchTopicMetadata(options: { topics: readonly string[] }): Promise<{ topics: TopicMetadata[] }>
  /** Every partition's log start and end. */
  fetchTopicOffsets(topic: string): Promise<PartitionOffsets[]>
  /** Per partition, the first offset whose timestamp is at or after `timestampMs` (the log end when none is). */
  fetchTopicOffsetsByTimestamp(
    topic: string,
    timestampMs: number,
  ): Promise<Array<{ partition: number; offset: string }>>
  describeCluster(): Promise<ClusterDescription>
  /** The values of the named configs of each topic (a config the broker does not report is left out). */
  topicConfigs(topics: readonly string[], names: readonly string[]): Promise<Map<string, Map<string, string>>>
  /** The ids of the cluster's consumer groups. */
  listGroups(): Promise<string[]>
  describeGroups(groupIds: readonly string[]): Promise<GroupDescription[]>
  /** Deletes the groups (each must be empty). */
  deleteGroups(groupIds: readonly string[]): Promise<void>
  createAcls(acls: readonly AclAllow[]): Promise<void>
}
