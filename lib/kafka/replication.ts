/**
 * How many copies a session's topics keep: the rule for the defaults (pure)
 * and what a topic's partitions hold now (under-replicated partitions, for
 * status). The local stack's servers follow the same defaults
 * (stack/brokerSettings.ts).
 */
import type { KafkaAdmin } from './client/index.js'

/** Replication factor for a cluster of `brokers`: 3 from three brokers on, else 1 (a factor of 2 has no majority). */
export function defaultReplicationFactor(brokers: number): number {
  return brokers >= 3 ? 3 : 1
}

/** min.insync.replicas for a replication factor: 2 from a factor of 3 on (one replica may be down), else 1. */
export function defaultMinInsyncReplicas(replicationFactor: number): number {
  return replicationFactor >= 3 ? 2 : 1
}

/** The topics.* settings: unset means the default for the cluster. */
export interface TopicReplication {
  replicationFactor?: number | undefined
  minInsyncReplicas?: number | undefined
}

/** The factor and min.insync.replicas to create a topic with on a cluster of `brokers`. */
export function resolveReplication(
  wanted: TopicReplication,
  brokers: number,
): { replicationFactor: number; minInsyncReplicas: number } {
  const replicationFactor = wanted.replicationFactor ?? defaultReplicationFactor(brokers)
  return {
    replicationFactor,
    minInsyncReplicas: wanted.minInsyncReplicas ?? defaultMinInsyncReplicas(replicationFactor),
  }
}

/** One partition's replicas as the cluster's metadata has them. */
export interface PartitionReplicas {
  topic: string
  partition: number
  leader: number
  replicas: number[]
  isr: number[]
}

/** Under-replicated: fewer replicas in sync than assigned, or no leader. */
export function isUnderReplicated(p: PartitionReplicas): boolean {
  return p.leader < 0 || p.isr.length < p.replicas.length
}

/** Every partition of `topics` (those that exist) with its leader, replicas and in-sync replicas. */
export async function describePartitions(admin: KafkaAdmin, topics: readonly string[]): Promise<PartitionReplicas[]> {
  const existing = new Set(await admin.listTopics())
  const wanted = topics.filter((t) => existing.has(t))
  if (wanted.length === 0) return []
  const metadata = await admin.fetchTopicMetadata({ topics: wanted })
  return metadata.topics.flatMap((t) =>
    t.partitions
      .map((p) => ({
        topic: t.name,
        partition: p.partitionId,
        leader: p.leader,
        replicas: [...p.replicas],
        isr: [...p.isr],
      }))
      .sort((a, b) => a.partition - b.partition),
  )
}
