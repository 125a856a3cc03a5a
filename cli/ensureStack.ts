/**
 * Makes sure Kafka, the schema registry and PostgreSQL answer before a
 * command that needs all three (the demo). When the configuration points
 * at the local stack, a stack that is not running is brought up; servers
 * elsewhere are only checked, with one clear error naming the setting.
 */
import type { Config } from '../lib/config.js'
import { redactUrl } from '../lib/config.js'
import { XrcError } from '../lib/errors.js'
import { createKafkaClient, kafkaAccessError } from '../lib/kafka/index.js'
import type { Logger } from '../lib/logger.js'
import { createStack } from '../stack/index.js'
import { pingKafka } from '../stack/kafka.js'
import { checkPostgres } from '../stack/postgres.js'
import { localRegistryUrl } from '../stack/registry.js'
import { registryFetch } from '../schemas/registryClient.js'

/** True when the config's Kafka and registry are the local stack's. */
export function usesLocalStack(config: Config): boolean {
  return (
    config.kafka.brokers.length === 1 &&
    config.kafka.brokers[0] === `127.0.0.1:${config.stack.kafkaPort}` &&
    config.schemaRegistry.url === localRegistryUrl(config)
  )
}

export async function ensureStack(config: Config, say: (line: string) => void): Promise<void> {
  if (usesLocalStack(config)) {
    const stack = createStack(config)
    const down = (await stack.status()).filter((s) => s.state !== 'up')
    if (down.length === 0) {
      say('local stack: Kafka, schema registry and PostgreSQL answer')
      return
    }
    say(
      `local stack: ${down.map((s) => s.name).join(', ')} not answering; bringing it up (the first ` +
        `time this fetches Kafka and the registry from Maven Central)`,
    )
    await stack.up((line) => say(`  ${line}`))
    return
  }
  await checkPostgres(config.database.url, 5000)
  await requireKafka(config)
  await requireRegistry(config)
  say(
    `servers: Kafka ${config.kafka.brokers.join(',')}, registry ${config.schemaRegistry.url}, ` +
      `PostgreSQL ${redactUrl(config.database.url)} answer`,
  )
}

/**
 * Throws XRC_KAFKA_UNREACHABLE, naming the setting, unless a broker answers
 * within 5 s; XRC_KAFKA_AUTH_FAILED or XRC_KAFKA_TLS_FAILED when one answers
 * but refuses this client.
 */
export async function requireKafka(config: Config): Promise<void> {
  await pingKafka(config.kafka, 5000).catch((err: unknown) => {
    throw (
      kafkaAccessError(err, config.kafka) ??
      new XrcError('XRC_KAFKA_UNREACHABLE', { brokers: config.kafka.brokers.join(','), cause: err })
    )
  })
}

/** Throws XRC_REGISTRY_UNREACHABLE, naming the setting, unless the registry answers within 5 s. */
export async function requireRegistry(config: Config): Promise<void> {
  // through the configured connection: its credentials and CA, so a refused login shows here and not later
  const res = await registryFetch(config.schemaRegistry, '/subjects', { timeoutMs: 5000 }).catch((err: unknown) => {
    throw new XrcError('XRC_REGISTRY_UNREACHABLE', { url: config.schemaRegistry.url, cause: err })
  })
  if (res.status !== 200)
    throw new XrcError('XRC_REGISTRY_UNREACHABLE', {
      url: config.schemaRegistry.url,
      cause: new Error(`GET /subjects answered ${res.status}${res.status === 401 ? ' (schemaRegistry.username)' : ''}`),
    })
}

/** Throws XRC_NOT_FOUND unless `topic` exists (a misspelt session name, most often). */
export async function requireTopic(config: Config, topic: string, logger: Logger): Promise<void> {
  const admin = createKafkaClient({
    connection: config.kafka,
    library: config.kafka.client,
    clientId: `${config.kafka.clientId}-admin`,
    logger,
  }).admin()
  await admin.connect()
  try {
    if (!(await admin.listTopics()).includes(topic)) {
      throw new XrcError('XRC_NOT_FOUND', { reason: 'topic', topic, session: config.session.name })
    }
  } finally {
    await admin.disconnect()
  }
}
