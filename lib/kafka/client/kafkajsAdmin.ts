/**
 * The admin calls on kafkajs: its Admin, answers reshaped into the seam's
 * types. kafkajs's errors pass as it throws them (accessErrors.ts and the
 * outage rules read its `retriable` and `type`).
 */
import kafkajs, { type Admin, type Kafka } from 'kafkajs'
import type { AclAllow, KafkaAdmin, NewTopic } from './adminTypes.js'

const { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ConfigResourceTypes, ResourcePatternTypes } = kafkajs

class KafkajsAdmin implements KafkaAdmin {
  readonly client = 'kafkajs' as const
  readonly #admin: Admin

  constructor(admin: Admin) {
    this.#admin = admin
  }

  listTopics(): Promise<string[]> {
    return this.#admin.listTopics()
  }

  createTopics(options: { topics: readonly NewTopic[]; waitForLeaders?: boolean; timeout?: number }): Promise<boolean> {
    return this.#admin.createTopics({
      topics: options.topics.map((t) => ({ ...t, configEntries: [...(t.configEntries ?? [])] })),
      ...(options.waitForLeaders === undefined ? {} : { waitForLeaders: options.waitForLeaders }),
      ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
    })
  }

  deleteTopics(options: { topics: readonly string[]; timeout?: number }): Promise<void> {
    return this.#admin.deleteTopics({
      topics: [...options.topics],
      ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
    })
  }

  async fetchTopicMetadata(options: { topics: readonly string[] }) {
    const { topics } = await this.#admin.fetchTopicMetadata({ topics: [...options.topics] })
    return {
      topics: topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({
          partitionId: p.partitionId,
          leader: p.leader,
          replicas: p.replicas,
          isr: p.isr,
          offlineReplicas: p.offlineReplicas ?? [],
        })),
      })),
    }
  }

  async fetchTopicOffsets(topic: string) {
    return (await this.#admin.fetchTopicOffsets(topic)).map(({ partition, offset, high, low }) => ({
      partition,
      offset,
      high,
      low,
    }))
  }

  async fetchTopicOffsetsByTimestamp(topic: string, timestampMs: number) {
    return (await this.#admin.fetchTopicOffsetsByTimestamp(topic, timestampMs)).map(({ partition, offset }) => ({
      partition,
      offset,
    }))
  }

  async describeCluster() {
    const { brokers, controller, clusterId } = await this.#admin.describeCluster()
    return { brokers: brokers.map(({ nodeId, host, port }) => ({ nodeId, host, port })), controller, clusterId }
  }

  async topicConfigs(topics: readonly string[], names: readonly string[]): Promise<Map<string, Map<string, string>>> {
    const described = await this.#admin.describeConfigs({
      includeSynonyms: false,
      resources: topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: [...names] })),
    })
    return new Map(
      described.resources.map((r) => [
        r.resourceName,
        new Map(
          r.configEntries.flatMap((e) => (e.configValue === null ? [] : [[e.configName, e.configValue] as const])),
        ),
      ]),
    )
  }

  async listGroups(): Promise<string[]> {
    return (await this.#admin.listGroups()).groups.map((g) => g.groupId)
  }

  async describeGroups(groupIds: readonly string[]) {
    const { groups } = await this.#admin.describeGroups([...groupIds])
    return groups.map((g) => ({ groupId: g.groupId, state: g.state, members: g.members.length }))
  }

  async deleteGroups(groupIds: readonly string[]): Promise<void> {
    await this.#admin.deleteGroups([...groupIds])
  }

  async createAcls(acls: readonly AclAllow[]): Promise<void> {
    await this.#admin.createAcls({
      acl: acls.map((a) => ({
        resourceType: AclResourceTypes[a.resourceType],
        resourceName: a.resourceName,
        resourcePatternType: ResourcePatternTypes[a.pattern],
        principal: a.principal,
        host: '*',
        operation: AclOperationTypes[a.operation],
        permissionType: AclPermissionTypes.ALLOW,
      })),
    })
  }

  connect(): Promise<void> {
    return this.#admin.connect()
  }

  disconnect(): Promise<void> {
    return this.#admin.disconnect()
  }
}

/** An admin of `kafka`, not connected yet. */
export function kafkajsAdmin(kafka: Kafka, options: { retries?: number } = {}): KafkaAdmin {
  return new KafkajsAdmin(kafka.admin(options.retries === undefined ? {} : { retry: { retries: options.retries } }))
}
