/**
 * The topics a mover needs before it starts: the journal (created here when
 * missing: one partition, records up to mover.journalRecordMaxBytes) and the
 * updates topic (the producer creates it; the mover waits for it, bounded).
 */
import kafkajs, { type Admin } from 'kafkajs'
import { XrcError } from '../lib/errors.js'
import type { Logger } from '../lib/logger.js'
import { waitFor } from '../lib/retry.js'

const { ConfigResourceTypes } = kafkajs

/** Kafka's own framing around a record (batch header, record header, key, headers): kept free under max.message.bytes. */
const KAFKA_FRAMING_BYTES = 16 * 1024

/**
 * Creates the journal topic when missing and refuses to start when an
 * existing one cannot take records of `maxRecordBytes` (every group would
 * fail to journal, forever).
 */
export async function ensureJournalTopic(admin: Admin, topic: string, maxRecordBytes: number, logger: Logger): Promise<void> {
  const need = maxRecordBytes + KAFKA_FRAMING_BYTES
  const created = await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: String(need) }] }],
  })
  if (created) logger.info({ topic }, 'created the journal topic')
  const meta = await admin.fetchTopicMetadata({ topics: [topic] })
  const partitions = meta.topics[0]?.partitions.length ?? 0
  if (partitions !== 1) {
    throw new XrcError('XRC_CONFIG_INVALID', `journal topic ${topic} has ${partitions} partitions; a journal has exactly one (its order is the groups' order)`, { context: { topic } })
  }
  const described = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['max.message.bytes'] }] })
  const value = described.resources[0]?.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue
  if (value !== undefined && Number(value) < need) {
    throw new XrcError('XRC_CONFIG_INVALID', `journal topic ${topic} has max.message.bytes ${value}, below the ${need} a record of mover.journalRecordMaxBytes (${maxRecordBytes}) needs; raise the topic's max.message.bytes or lower mover.journalRecordMaxBytes`, {
      context: { setting: 'mover.journalRecordMaxBytes', topic },
    })
  }
}

/**
 * Waits up to `timeoutMs` for the updates topic (the producer creates it)
 * and checks it has a partition for every controller id. Throws XRC_TIMEOUT
 * or XRC_CONFIG_INVALID.
 */
export async function awaitUpdatesTopic(admin: Admin, topic: string, partitions: number, timeoutMs: number): Promise<void> {
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
    throw new XrcError('XRC_CONFIG_INVALID', `topic ${topic} has ${have} partitions; the session's controller ids need ${partitions} (partition = controller id)`, { context: { setting: 'session.controllers', topic } })
  }
}
