/**
 * `xrc status`'s view of the session topics' replication: the cluster's
 * broker count, each topic's replication factor and the partitions whose
 * in-sync replicas are fewer than their replicas (or that have no leader),
 * from the cluster's metadata.
 */
import type { KafkaAdmin } from '../../lib/kafka/index.js'
import { describePartitions, isUnderReplicated, type PartitionReplicas } from '../../lib/kafka/index.js'
import { sessionTopics } from '../../schemas/topicNames.js'

export interface TopicReplicationView {
  topic: string
  partitions: number
  /** The fewest replicas any of its partitions has. */
  replicationFactor: number
  underReplicated: PartitionReplicas[]
}

export interface ReplicationView {
  brokers: number
  topics: TopicReplicationView[]
  /** Under-replicated partitions over every topic. */
  underReplicated: number
}

/** Summarizes partitions by topic (pure); topics in the order given, missing ones left out. */
export function summarizeReplication(
  brokers: number,
  topics: readonly string[],
  partitions: readonly PartitionReplicas[],
): ReplicationView {
  const views = topics.flatMap((topic): TopicReplicationView[] => {
    const mine = partitions.filter((p) => p.topic === topic)
    if (mine.length === 0) return []
    return [
      {
        topic,
        partitions: mine.length,
        replicationFactor: Math.min(...mine.map((p) => p.replicas.length)),
        underReplicated: mine.filter(isUnderReplicated),
      },
    ]
  })
  return { brokers, topics: views, underReplicated: views.reduce((n, v) => n + v.underReplicated.length, 0) }
}

/** The replication of a session's topics, as the cluster's metadata has it now. */
export async function replicationView(admin: KafkaAdmin, session: string): Promise<ReplicationView> {
  const topics = Object.values(sessionTopics(session))
  const [cluster, partitions] = await Promise.all([admin.describeCluster(), describePartitions(admin, topics)])
  return summarizeReplication(cluster.brokers.length, topics, partitions)
}

/** Lines for the status page: one summary, then one per under-replicated partition. */
export function replicationLines(r: ReplicationView): string[] {
  const factors = [...new Set(r.topics.map((t) => t.replicationFactor))].sort((a, b) => a - b)
  const factor = factors.length === 0 ? 'no topics yet' : `replication factor ${factors.join('/')}`
  const lines = [
    `  replication        ${r.brokers} broker${r.brokers === 1 ? '' : 's'}; ${factor}; ` +
      `${r.underReplicated} under-replicated partition${r.underReplicated === 1 ? '' : 's'}`,
  ]
  for (const t of r.topics)
    for (const p of t.underReplicated)
      lines.push(
        `    ${t.topic} partition ${p.partition}: in sync ${p.isr.join(',') || 'none'} of ` +
          `${p.replicas.join(',')}${p.leader < 0 ? ', no leader' : `, leader ${p.leader}`}`,
      )
  return lines
}
