/**
 * Creating and checking a session's topics. The producer, the mover and the
 * applier each make sure the topics they use exist and can carry their
 * records before they start; whichever starts first creates them.
 */
import type { KafkaAdmin } from './client/index.js'
import { XrcError } from '../errors.js'
import { retry, waitFor } from '../retry.js'
import type { Logger } from '../logger.js'
import { KAFKA_FRAMING_BYTES } from '../../schemas/wireSizes.js'
import { resolveReplication, type TopicReplication } from './replication.js'
import { authorizationErrorOf } from './accessErrors.js'

/** Kafka's framing kept free under max.message.bytes; defined with the other wire sizes. */
export { KAFKA_FRAMING_BYTES }

export interface TopicSpec {
  topic: string
  /** Partitions to create with. */
  partitions: number
  /**
   * 'exact': an existing topic must have exactly `partitions` (a journal's order is its one partition); 'at-least'
   * otherwise.
   */
  partitionRule: 'exact' | 'at-least'
  /** Largest record value the topic must take; max.message.bytes is set to this plus framing. */
  maxRecordBytes: number
  /** What the partition count is derived from, for the error message. */
  partitionsFrom: string
  /** The setting that bounds the record size, for the error message. */
  recordSizeSetting: string
  /** Human name, for logs and errors ("updates topic", "journal topic"). */
  role: string
  /** Further topic configs to create it with (say, cleanup.policy); an existing topic keeps its own. */
  configs?: Readonly<Record<string, string>>
}

/**
 * Creates the topic when missing, with the replication factor and
 * min.insync.replicas of `replication` (topics.*; unset: the defaults for
 * the cluster's broker count, lib/kafka/replication.ts); refuses
 * (XRC_CONFIG_INVALID, naming the setting) a factor the cluster cannot
 * place, and an existing topic whose partitions or max.message.bytes
 * cannot serve: every record would otherwise fail, and be retried, forever.
 * An existing topic keeps its replication (status shows it).
 */
export async function ensureTopic(
  admin: KafkaAdmin,
  spec: TopicSpec,
  logger: Logger,
  replication: TopicReplication = {},
): Promise<void> {
  const need = spec.maxRecordBytes + KAFKA_FRAMING_BYTES
  const brokers = (await startupRetry(() => admin.describeCluster())).brokers.length
  const { replicationFactor, minInsyncReplicas } = resolveReplication(replication, brokers)
  if (replicationFactor > brokers)
    throw new XrcError('XRC_CONFIG_INVALID', {
      reason: 'topicReplication',
      role: spec.role,
      topic: spec.topic,
      replicationFactor,
      brokers,
    })
  // On a broker that just started, kafkajs's wait for leaders asks for metadata the broker does not have yet
  // and gives up on UNKNOWN_TOPIC_OR_PARTITION (a mover failed to start so): the topic exists then, ask again.
  const created = await startupRetry(() =>
    admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic: spec.topic,
          numPartitions: spec.partitions,
          replicationFactor,
          configEntries: [
            { name: 'max.message.bytes', value: String(need) },
            { name: 'min.insync.replicas', value: String(minInsyncReplicas) },
            ...Object.entries(spec.configs ?? {}).map(([name, value]) => ({ name, value })),
          ],
        },
      ],
    }),
  )
  if (created)
    logger.info(
      { topic: spec.topic, partitions: spec.partitions, replicationFactor, minInsyncReplicas },
      `created the ${spec.role}`,
    )
  // a topic just created (here or by another process) may not be in the broker's metadata yet: ask again, bounded
  // ...unless Kafka refuses to describe it (an ACL): that does not settle, so it is not asked again
  let refused: string | undefined
  const have = await waitFor(
    `the ${spec.role} ${spec.topic} in the broker's metadata`,
    async () =>
      (
        await admin.fetchTopicMetadata({ topics: [spec.topic] }).catch((err: unknown) => {
          refused = authorizationErrorOf(err)
          throw err
        })
      ).topics[0]?.partitions.length,
    { timeoutMs: 30_000, intervalMs: 100, abortIf: () => refused },
  )
  if (spec.partitionRule === 'exact' ? have !== spec.partitions : have < spec.partitions) {
    throw new XrcError('XRC_CONFIG_INVALID', {
      reason: 'topicPartitions',
      role: spec.role,
      topic: spec.topic,
      have,
      partitionsFrom: spec.partitionsFrom,
      rule: spec.partitionRule === 'exact' ? 'exactly' : 'at least',
      partitions: spec.partitions,
    })
  }
  const described = await startupRetry(() => admin.topicConfigs([spec.topic], ['max.message.bytes']))
  const value = described.get(spec.topic)?.get('max.message.bytes')
  if (value !== undefined && Number(value) < need) {
    throw new XrcError('XRC_CONFIG_INVALID', {
      reason: 'topicMaxMessageBytes',
      role: spec.role,
      topic: spec.topic,
      have: value,
      need,
      setting: spec.recordSizeSetting,
      maxRecordBytes: spec.maxRecordBytes,
    })
  }
}

/**
 * Whether an admin call's error is the cluster still settling rather than a
 * refusal: kafkajs marks the broker's retriable codes (a topic another
 * process just created and this broker has not heard of, a leader moving,
 * a coordinator loading) `retriable`. On a three-node cluster an applier
 * starting beside a mover that had just created the journal met
 * UNKNOWN_TOPIC_OR_PARTITION from DescribeConfigs and
 * exited; kafkajs's own retries had not covered it.
 */
export function isSettlingAdminError(err: unknown): boolean {
  const e = err as { retriable?: unknown; type?: unknown } | null
  if (e === null || typeof e !== 'object') return false
  // the broker's answers only: our own errors (a call past its deadline, whose client must be dropped) are not
  if (err instanceof XrcError) return false
  return e.retriable === true || ['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE'].includes(String(e.type))
}

/**
 * A call of start-up (an admin call, a reader's first metadata), again while the cluster settles (20 attempts, up
 * to 2 s apart), then its error; not again once `stopped()` says the caller stopped.
 */
export function startupRetry<T>(
  call: () => Promise<T>,
  options: { stopped?: () => boolean; onRetry?: (err: unknown, attempt: number) => void } = {},
): Promise<T> {
  const { stopped, onRetry } = options
  return retry(call, {
    attempts: 20,
    initialDelayMs: 200,
    maxDelayMs: 2000,
    isRetriable: (err) => !(stopped?.() ?? false) && isSettlingAdminError(err),
    ...(onRetry ? { onRetry } : {}),
  })
}

/**
 * An admin call of a running stage (offsets of a partition, say), asked again
 * for as long as the cluster answers that it is settling (a leader election
 * in a rolling restart: LEADER_NOT_AVAILABLE), up to 2 s apart, until
 * `signal` aborts; any other error at once. An applier halted on such an
 * answer from ListOffsets in the three-node soak.
 */
export function whileSettling<T>(
  call: () => Promise<T>,
  options: { signal?: AbortSignal; onRetry?: (err: unknown) => void } = {},
): Promise<T> {
  return retry(call, {
    attempts: Number.MAX_SAFE_INTEGER,
    initialDelayMs: 200,
    maxDelayMs: 2000,
    isRetriable: isSettlingAdminError,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onRetry ? { onRetry: (err: unknown) => options.onRetry?.(err) } : {}),
  })
}

/** The journal topic of a session: one partition, records up to mover.journalRecordMaxBytes. */
export function journalTopicSpec(topic: string, journalRecordMaxBytes: number): TopicSpec {
  return {
    topic,
    partitions: 1,
    partitionRule: 'exact',
    maxRecordBytes: journalRecordMaxBytes,
    partitionsFrom: "a journal (its order is the groups' order)",
    recordSizeSetting: 'mover.journalRecordMaxBytes',
    role: 'journal topic',
  }
}

/** The updates topic of a session: a partition per controller id, records up to mover.maxRecordSetBytes. */
export function updatesTopicSpec(topic: string, partitions: number, maxRecordSetBytes: number): TopicSpec {
  return {
    topic,
    partitions,
    partitionRule: 'at-least',
    maxRecordBytes: maxRecordSetBytes,
    partitionsFrom: "the session's controller ids (partition = controller id)",
    recordSizeSetting: 'mover.maxRecordSetBytes',
    role: 'updates topic',
  }
}

/**
 * The dead-letter topic of a session: one partition, records up to an updates record (mover.maxRecordSetBytes) with
 * its framing.
 */
export function deadLetterTopicSpec(topic: string, maxRecordSetBytes: number): TopicSpec {
  return {
    topic,
    partitions: 1,
    partitionRule: 'at-least',
    maxRecordBytes: maxRecordSetBytes + KAFKA_FRAMING_BYTES,
    partitionsFrom: 'the dead-letter topic',
    recordSizeSetting: 'mover.maxRecordSetBytes',
    role: 'dead-letter topic',
  }
}

/**
 * The control topic of a session (operator commands to the mover, see schemas/control.ts): one partition of small
 * JSON records.
 */
export function controlTopicSpec(topic: string): TopicSpec {
  return {
    topic,
    partitions: 1,
    partitionRule: 'exact',
    maxRecordBytes: 64 * 1024,
    partitionsFrom: 'a control topic (commands are read in order)',
    recordSizeSetting: 'the control topic',
    role: 'control topic',
  }
}

/**
 * The applied topic of a session (schemas/appliedState.ts): what each
 * secondary tells the primary. One partition, compacted: the key is the
 * secondary's name, so the topic keeps each one's latest state however long
 * the session runs; segments roll every 10 minutes so that compaction keeps
 * a reader's start-up scan short.
 */
export function appliedTopicSpec(topic: string): TopicSpec {
  return {
    topic,
    partitions: 1,
    partitionRule: 'exact',
    maxRecordBytes: 64 * 1024,
    partitionsFrom: 'the applied topic (one partition, compacted)',
    recordSizeSetting: 'the applied topic',
    role: 'applied topic',
    configs: { 'cleanup.policy': 'compact', 'segment.ms': String(10 * 60 * 1000) },
  }
}
