/**
 * The topics a mover needs before it starts: the journal (created here when
 * missing: one partition, records up to mover.journalRecordMaxBytes) and the
 * updates topic (the producer creates it; the mover waits for it, bounded).
 */
import type { KafkaAdmin } from '../lib/kafka/index.js'
import { XrcError } from '../lib/errors.js'
import type { Logger } from '../lib/logger.js'
import { waitFor } from '../lib/retry.js'
import { ensureTopic, journalTopicSpec, type TopicReplication } from '../lib/kafka/index.js'

/** Creates the journal topic when missing; refuses an existing one that cannot serve (see lib/kafka/topicAdmin.ts). */
export async function ensureJournalTopic(
  admin: KafkaAdmin,
  topic: string,
  maxRecordBytes: number,
  logger: Logger,
  replication: TopicReplication,
): Promise<void> {
  await ensureTopic(admin, journalTopicSpec(topic, maxRecordBytes), logger, replication)
}

/**
 * Waits up to `timeoutMs` for the updates topic (the producer creates it)
 * and checks it has a partition for every controller id. Throws XRC_TIMEOUT
 * or XRC_CONFIG_INVALID.
 */
export async function awaitUpdatesTopic(
  admin: KafkaAdmin,
  topic: string,
  partitions: number,
  timeoutMs: number,
): Promise<void> {
  const have = await waitFor(
    `the updates topic ${topic} (the primary creates it)`,
    async () => {
      const topics = await admin.listTopics()
      if (!topics.includes(topic)) return undefined
      return (await admin.fetchTopicMetadata({ topics: [topic] })).topics[0]?.partitions.length
    },
    { timeoutMs, intervalMs: 250 },
  )
  if (have < partitions) {
    throw new XrcError('XRC_CONFIG_INVALID', {
      reason: 'topicPartitions',
      role: 'updates topic',
      topic,
      have,
      partitionsFrom: "the session's controller ids (partition = controller id)",
      rule: 'at least',
      partitions,
      setting: 'session.controllers',
    })
  }
}
