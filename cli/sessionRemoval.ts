/**
 * What a session leaves behind, and removing it: its topics (updates,
 * journal, dead letters), the mover's consumer group, its registry
 * subjects, its PostgreSQL schema and its primary data folder. `xrc demo`
 * uses it to start from nothing and to tidy earlier demo sessions.
 */
import { rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Config } from '../lib/config.js'
import { XrcError } from '../lib/errors.js'
import { createKafkaClient } from '../lib/kafka/index.js'
import type { Logger } from '../lib/logger.js'
import { ident } from '../lib/postgres.js'
import pg from 'pg'
import { registryFetch, type RegistryConnection } from '../schemas/registryClient.js'
import { moverGroupId, sessionTopics, valueSubject } from '../schemas/topicNames.js'

/** The names a session occupies. */
export interface SessionNames {
  session: string
  /** PostgreSQL schema of its secondary. */
  schema: string
  /** Its primary data folder: `<dataDir>/<session>`. */
  folder: string
}

/** Where a session already has data; empty when it has none. */
export interface SessionFootprint {
  topics: string[]
  schema: boolean
  folder: boolean
}

export function sessionNames(config: Config): SessionNames {
  return {
    session: config.session.name,
    schema: config.applier.schema,
    folder: join(config.session.dataDir, config.session.name),
  }
}

export function isEmptyFootprint(f: SessionFootprint): boolean {
  return f.topics.length === 0 && !f.schema && !f.folder
}

/** Finds what of the session exists in Kafka, PostgreSQL and on disk. */
export async function sessionFootprint(config: Config, names: SessionNames, logger: Logger): Promise<SessionFootprint> {
  const topics = Object.values(sessionTopics(names.session))
  const kafka = createKafkaClient({
    connection: config.kafka,
    library: config.kafka.client,
    clientId: `${config.kafka.clientId}-admin`,
    logger,
  })
  const admin = kafka.admin()
  await admin.connect()
  let existing: string[]
  try {
    const all = new Set(await admin.listTopics())
    existing = topics.filter((t) => all.has(t))
  } finally {
    await admin.disconnect()
  }
  const client = new pg.Client({ connectionString: config.database.url })
  await client.connect()
  let schema: boolean
  try {
    schema = (await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [names.schema])).rowCount === 1
  } finally {
    await client.end()
  }
  const folder = await stat(names.folder).then(
    () => true,
    () => false,
  )
  return { topics: existing, schema, folder }
}

/**
 * Removes every trace of the session. Idempotent: what is already gone is
 * skipped. The services of the session must not be running.
 */
export async function removeSession(config: Config, names: SessionNames, logger: Logger): Promise<void> {
  const log = logger.child({ component: 'session-removal', session: names.session })
  const topics = Object.values(sessionTopics(names.session))
  const kafka = createKafkaClient({
    connection: config.kafka,
    library: config.kafka.client,
    clientId: `${config.kafka.clientId}-admin`,
    logger,
  })
  const admin = kafka.admin()
  await admin.connect()
  try {
    const all = new Set(await admin.listTopics())
    const mine = topics.filter((t) => all.has(t))
    if (mine.length > 0) await admin.deleteTopics({ topics: mine, timeout: 30_000 })
    // the group exists only once the mover committed offsets; a missing one is fine
    await admin
      .deleteGroups([moverGroupId(names.session)])
      .catch((err: unknown) => log.debug({ err }, 'no mover group to delete'))
  } finally {
    await admin.disconnect()
  }
  for (const topic of topics) await deleteSubject(config.schemaRegistry, valueSubject(topic))
  const client = new pg.Client({ connectionString: config.database.url })
  await client.connect()
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${ident(names.schema)} CASCADE`)
  } finally {
    await client.end()
  }
  await rm(names.folder, { recursive: true, force: true })
  log.info({ topics, schema: names.schema, folder: names.folder }, 'session removed')
}

/** Deletes a registry subject for good (soft delete, then permanent); a missing subject is fine. */
async function deleteSubject(registry: RegistryConnection, subject: string): Promise<void> {
  const path = `/subjects/${encodeURIComponent(subject)}`
  try {
    await registryFetch(registry, path, { method: 'DELETE' })
    await registryFetch(registry, `${path}?permanent=true`, { method: 'DELETE' })
  } catch (err) {
    throw new XrcError('XRC_REGISTRY_UNREACHABLE', { reason: 'deleteSubject', subject, url: registry.url, cause: err })
  }
}
