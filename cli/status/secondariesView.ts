/**
 * Every secondary of a session that `xrc status` knows of: each applier
 * publishes its last applied group on the session's applied topic (key = the
 * secondary's name, its PostgreSQL schema; schemas/appliedState.ts), so the
 * topic read whole, the latest record per key kept (a tombstone forgets
 * one), names them all, wherever their stores are. The primary discards its
 * older change generation up to the slowest of them.
 */
import type { KafkaClient } from '../../lib/kafka/index.js'
import { scanTopic } from '../../lib/kafka/index.js'
import type { Logger } from '../../lib/logger.js'
import { APPLIED_STATE_SCHEMA, type AppliedState, type SecondaryImage } from '../../schemas/appliedState.js'
import { createDecoder } from '../../schemas/codec.js'
import { sessionTopics, valueSubject } from '../../schemas/topicNames.js'
import type { RegistryConnection } from '../../schemas/registryClient.js'

/** One secondary as it last told the primary. */
export interface SecondaryReport {
  /** Its name: the PostgreSQL schema of its store. */
  name: string
  groupSeq: number
  /** Consistency time of its last applied group (µs); undefined: none yet. */
  groupTime: number | undefined
  image: SecondaryImage
  /** When it said so (ISO). */
  publishedAt: string
}

/** The secondaries heard on the session's applied topic, by name; [] when the topic does not exist. */
export async function secondariesView(options: {
  kafka: KafkaClient
  existingTopics: ReadonlySet<string>
  session: string
  registry: RegistryConnection
  logger: Logger
}): Promise<SecondaryReport[]> {
  const topic = sessionTopics(options.session).applied
  if (!options.existingTopics.has(topic)) return []
  const decoder = createDecoder<AppliedState>({
    registry: options.registry,
    subject: valueSubject(topic),
    schema: APPLIED_STATE_SCHEMA,
  })
  const latest = new Map<string, Buffer | null>()
  await scanTopic({
    kafka: options.kafka,
    topic,
    groupPrefix: `xrc.${options.session}.status`,
    logger: options.logger,
    timeoutMs: 10_000,
    onMessage: (m) => {
      const key = m.key?.toString()
      if (key !== undefined) latest.set(key, m.value)
    },
  })
  const reports: SecondaryReport[] = []
  for (const [name, value] of latest) {
    if (value === null) continue // forgotten
    const s = await decoder.decode(value)
    reports.push({
      name,
      groupSeq: s.groupSeq,
      groupTime: s.groupTime ?? undefined,
      image: s.image,
      publishedAt: new Date(s.publishedAt).toISOString(),
    })
  }
  return reports.sort((a, b) => a.name.localeCompare(b.name))
}
