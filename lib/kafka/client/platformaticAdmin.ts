/**
 * The admin calls on @platformatic/kafka: its Admin, answers reshaped into
 * the seam's types and made to mean what kafkajs's do (kafkajsAdmin.ts):
 * offsets read read_committed, internal topics listed, group states in
 * Kafka's spelling, a topic that exists already not an error, the wait for
 * new topics' leaders on by default. Every failure is mapped by
 * fromPlatformatic (`retriable`, Kafka's error name as `type`).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import {
  AclOperations,
  AclPermissionTypes,
  Admin,
  ConfigResourceTypes,
  FetchIsolationLevels,
  ListOffsetTimestamps,
  ProtocolError,
  ResourcePatternTypes,
  ResourceTypes,
  TimeoutError,
} from '@platformatic/kafka'
import { Backoff } from '../../backoff.js'
import type { KafkaConnection } from '../../config.js'
import type { Logger } from '../../logger.js'
import type { AclAllow, KafkaAdmin, NewTopic, PartitionOffsets } from './adminTypes.js'
import { KafkaClientError, fromPlatformatic, platformaticFailure } from './clientErrors.js'
import { platformaticConnection } from './platformaticProducer.js'

/** The first wait before a failed call is tried again, ms (doubled up to 2 s). */
const RETRY_DELAY_MS = 100

/** Kafka's group state names (classic and KIP-848 groups); the library upper-cases them (PREPARINGREBALANCE). */
const GROUP_STATES = new Map(
  ['Empty', 'Stable', 'PreparingRebalance', 'CompletingRebalance', 'Dead', 'Assigning', 'Reconciling', 'NotReady'].map(
    (s) => [s.toUpperCase(), s] as const,
  ),
)

class PlatformaticAdmin implements KafkaAdmin {
  readonly client = 'platformatic' as const
  readonly #admin: Admin
  readonly #log: Logger
  readonly #retries: number

  constructor(admin: Admin, log: Logger, retries: number) {
    this.#admin = admin
    this.#log = log
    this.#retries = retries
  }

  /**
   * `call`, failures mapped, tried again up to `retries` times while they are retriable. The library's own retries
   * are off: it tried a refused SASL login again (six logins in the broker's log for one refused mover start), and a
   * refused login must stay one attempt (an account lock-out policy counts them).
   */
  async #call<T>(call: () => Promise<T>): Promise<T> {
    const backoff = new Backoff({ initialMs: RETRY_DELAY_MS, maxMs: 2000 })
    for (;;) {
      try {
        return await mapped(call)
      } catch (err) {
        if (!(err instanceof KafkaClientError) || !err.retriable || backoff.attempts >= this.#retries) throw err
        await backoff.wait()
      }
    }
  }

  /** The library connects on the first request: a metadata request, which fails when no broker answers. */
  connect(): Promise<void> {
    return this.#call(async () => {
      await this.#admin.metadata({ topics: [], forceUpdate: true })
    })
  }

  /** Never rejects (nothing to close when it never connected). */
  disconnect(): Promise<void> {
    return new Promise((resolve) => this.#admin.close(() => resolve()))
  }

  /** Internal topics included, as kafkajs lists them. */
  listTopics(): Promise<string[]> {
    return this.#call(() => this.#admin.listTopics({ includeInternals: true }))
  }

  /**
   * One CreateTopics per topic: the library sends one partition count, factor and config for all topics of a
   * call. The wait for leaders is on unless `waitForLeaders` is false, bounded by `timeout` (10 s), as kafkajs's.
   * The broker's own timeout for the request is the library's per client (5 s, kafkajs's default).
   */
  createTopics(options: { topics: readonly NewTopic[]; waitForLeaders?: boolean; timeout?: number }): Promise<boolean> {
    return this.#call(async () => {
      const created = await Promise.all(options.topics.map((t) => this.#createTopic(t)))
      const fresh = options.topics.filter((_, i) => created[i])
      if (options.waitForLeaders !== false && fresh.length > 0) await this.#waitForLeaders(fresh, options.timeout)
      return created.every(Boolean)
    })
  }

  /** True when created, false when it existed (TOPIC_ALREADY_EXISTS). */
  async #createTopic(t: NewTopic): Promise<boolean> {
    try {
      await this.#admin.createTopics({
        topics: [t.topic],
        partitions: t.numPartitions,
        replicas: t.replicationFactor ?? -1,
        configs: (t.configEntries ?? []).map(({ name, value }) => ({ name, value })),
      })
      return true
    } catch (err) {
      if (platformaticFailure(err).type !== 'TOPIC_ALREADY_EXISTS') throw err
      this.#log.debug({ topic: t.topic }, 'topic exists already')
      return false
    }
  }

  /** Polls the metadata until every partition of `topics` has a leader; a topic not known yet is asked again. */
  async #waitForLeaders(topics: readonly NewTopic[], timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const metadata = await this.#admin
        .metadata({ topics: topics.map((t) => t.topic), forceUpdate: true })
        .catch((err: unknown) => {
          if (isUnknownTopic(err)) return undefined
          throw err
        })
      const led = (t: NewTopic) => metadata?.topics.get(t.topic)?.partitions.filter((p) => p.leader >= 0).length ?? 0
      if (topics.every((t) => led(t) > 0 && led(t) >= t.numPartitions)) return
      if (Date.now() >= deadline) throw new TimeoutError('Timed out while waiting for topic leaders')
      await sleep(100)
    }
  }

  /** An unknown topic is an error (UNKNOWN_TOPIC_OR_PARTITION, after the library's retries); broker timeout 5 s. */
  deleteTopics(options: { topics: readonly string[]; timeout?: number }): Promise<void> {
    return this.#call(() => this.#admin.deleteTopics({ topics: [...options.topics] }))
  }

  /** Asked of the broker each time; no topics: every topic (internal ones aside: the library drops them). */
  fetchTopicMetadata(options: { topics: readonly string[] }) {
    return this.#call(async () => {
      const names = options.topics.length > 0 ? [...options.topics] : await this.#admin.listTopics()
      const { topics } = await this.#admin.metadata({ topics: [...names], forceUpdate: true })
      return {
        topics: names.flatMap((name) => {
          const t = topics.get(name)
          if (t === undefined) return []
          const partitions = t.partitions.map((p, partitionId) => ({
            partitionId,
            leader: p.leader,
            replicas: p.replicas,
            isr: p.isr,
            offlineReplicas: p.offlineReplicas,
          }))
          return [{ name, partitions }]
        }),
      }
    })
  }

  /** The end is read_committed (the last stable offset), as kafkajs's admin asks it. */
  fetchTopicOffsets(topic: string): Promise<PartitionOffsets[]> {
    return this.#call(async () => {
      const partitions = await this.#partitions(topic)
      const [high, low] = await Promise.all([
        this.#listOffsets(topic, partitions, ListOffsetTimestamps.LATEST),
        this.#listOffsets(topic, partitions, ListOffsetTimestamps.EARLIEST),
      ])
      return partitions.map((partition) => {
        const end = String(high.get(partition))
        return { partition, offset: end, high: end, low: String(low.get(partition)) }
      })
    })
  }

  /** The broker answers -1 when no record is that recent: the end then, as kafkajs gives it. */
  fetchTopicOffsetsByTimestamp(topic: string, timestampMs: number) {
    return this.#call(async () => {
      const partitions = await this.#partitions(topic)
      const [high, found] = await Promise.all([
        this.#listOffsets(topic, partitions, ListOffsetTimestamps.LATEST),
        this.#listOffsets(topic, partitions, BigInt(Math.trunc(timestampMs))),
      ])
      return partitions.map((partition) => {
        const offset = found.get(partition) ?? -1n
        return { partition, offset: String(offset >= 0n ? offset : high.get(partition)) }
      })
    })
  }

  /** The topic's partitions, its metadata asked anew (listOffsets then finds the leaders in the library's cache). */
  async #partitions(topic: string): Promise<number[]> {
    const { topics } = await this.#admin.metadata({ topics: [topic], forceUpdate: true })
    return (topics.get(topic)?.partitions ?? []).map((_, partition) => partition)
  }

  async #listOffsets(topic: string, partitions: number[], timestamp: bigint): Promise<Map<number, bigint>> {
    const answer = await this.#admin.listOffsets({
      topics: [{ name: topic, partitions: partitions.map((partitionIndex) => ({ partitionIndex, timestamp })) }],
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    })
    const listed = answer.filter((t) => t.name === topic).flatMap((t) => t.partitions)
    return new Map(listed.map((p) => [p.partitionIndex, p.offset]))
  }

  /** The library keeps the first answer's controller and cluster id: its cache is dropped to ask again. */
  describeCluster() {
    return this.#call(async () => {
      this.#admin.clearMetadata()
      const { brokers, controllerId, id } = await this.#admin.metadata({ topics: [], forceUpdate: true })
      return {
        brokers: [...brokers].map(([nodeId, { host, port }]) => ({ nodeId, host, port })),
        controller: controllerId >= 0 ? controllerId : null,
        clusterId: id,
      }
    })
  }

  topicConfigs(topics: readonly string[], names: readonly string[]): Promise<Map<string, Map<string, string>>> {
    return this.#call(async () => {
      const described = await this.#admin.describeConfigs({
        includeSynonyms: false,
        resources: topics.map((t) => ({
          resourceType: ConfigResourceTypes.TOPIC,
          resourceName: t,
          configurationKeys: [...names],
        })),
      })
      // a sensitive config's value is not reported (null): left out
      const values = (configs: (typeof described)[number]['configs']) =>
        configs.flatMap((c) => (typeof c.value === 'string' ? [[c.name, c.value] as const] : []))
      return new Map(described.map((r) => [r.resourceName, new Map(values(r.configs))]))
    })
  }

  /** Groups of every type (an empty filter), as kafkajs's ListGroups v2 asks; the library lists classic ones only. */
  listGroups(): Promise<string[]> {
    return this.#call(async () => [...(await this.#admin.listGroups({ types: [] })).keys()])
  }

  describeGroups(groupIds: readonly string[]) {
    return this.#call(async () => {
      if (groupIds.length === 0) return []
      const groups = await this.#admin.describeGroups({ groups: [...groupIds] })
      return groupIds.flatMap((groupId) => {
        const g = groups.get(groupId)
        return g === undefined
          ? []
          : [{ groupId, state: GROUP_STATES.get(g.state) ?? g.state, members: g.members.size }]
      })
    })
  }

  deleteGroups(groupIds: readonly string[]): Promise<void> {
    return this.#call(async () => {
      if (groupIds.length > 0) await this.#admin.deleteGroups({ groups: [...groupIds] })
    })
  }

  createAcls(acls: readonly AclAllow[]): Promise<void> {
    return this.#call(() =>
      this.#admin.createAcls({
        creations: acls.map((a) => ({
          resourceType: ResourceTypes[a.resourceType],
          resourceName: a.resourceName,
          resourcePatternType: ResourcePatternTypes[a.pattern],
          principal: a.principal,
          host: '*',
          operation: AclOperations[a.operation],
          permissionType: AclPermissionTypes.ALLOW,
        })),
      }),
    )
  }
}

/**
 * The library's "Unknown topic" of a metadata request: a UserError that drops the broker's answer. It is
 * UNKNOWN_TOPIC_OR_PARTITION (retriable), as kafkajs reports it and the callers wait on it (topicAdmin.ts).
 */
function isUnknownTopic(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null
  return e?.code === 'PLT_KFK_USER' && typeof e.message === 'string' && e.message.startsWith('Unknown topic ')
}

/** `call`, its failure mapped by fromPlatformatic. */
async function mapped<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (err) {
    if (!isUnknownTopic(err)) throw fromPlatformatic(err)
    // its message (naming the topic) kept as a plain cause: the UserError itself would read as not retriable
    const cause = new Error((err as Error).message)
    throw fromPlatformatic(new ProtocolError('UNKNOWN_TOPIC_OR_PARTITION', null, { cause }))
  }
}

/** An admin of `connection` on @platformatic/kafka, not connected yet; timeouts and retries as the producers'. */
export function platformaticAdmin(options: {
  connection: KafkaConnection
  clientId: string
  logger: Logger
  retries?: number
}): KafkaAdmin {
  const admin = new Admin({
    clientId: options.clientId,
    ...platformaticConnection(options.connection),
    autocreateTopics: false,
    connectTimeout: 3000,
    requestTimeout: 30_000,
    retries: 0, // tried again in PlatformaticAdmin.#call
  })
  return new PlatformaticAdmin(admin, options.logger.child({ component: 'kafka-admin' }), options.retries ?? 5)
}
