/**
 * Connections to the real servers for integration tests, each cleaned up by
 * the test that made it.
 */
import { inject } from 'vitest'
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry'
import pg from 'pg'
import { type KafkaAdmin, type KafkaClient, type KafkaClientName, createKafkaClient } from '../../lib/kafka/index.js'
import { silentLogger } from '../../lib/logger.js'
import { ident } from '../../lib/postgres.js'
import { retry } from '../../lib/retry.js'
import { uniqueName } from './names.js'

export function stackInfo() {
  return inject('stack')
}

/** A client of the local stack, as the stages take one (on kafkajs unless `library` says otherwise). */
export function testKafka(clientId = uniqueName('test'), library?: KafkaClientName): KafkaClient {
  return createKafkaClient({
    connection: { brokers: stackInfo().kafkaBrokers },
    clientId,
    logger: silentLogger,
    logs: 'none',
    ...(library === undefined ? {} : { library }),
  })
}

export function testRegistry(): SchemaRegistry {
  return new SchemaRegistry({ host: stackInfo().registryUrl })
}

/** Creates topics (and deletes them in `cleanup`). */
export async function createTestTopics(
  admin: KafkaAdmin,
  topics: { topic: string; numPartitions?: number }[],
): Promise<() => Promise<void>> {
  // a busy broker can answer the wait for leaders with UNKNOWN_TOPIC_OR_PARTITION (lib/kafka/topicAdmin.ts retries the same)
  await retry(
    () =>
      admin.createTopics({
        waitForLeaders: true,
        topics: topics.map((t) => ({ topic: t.topic, numPartitions: t.numPartitions ?? 1, replicationFactor: 1 })),
      }),
    {
      attempts: 5,
      initialDelayMs: 200,
      maxDelayMs: 2000,
      isRetriable: (err) => String((err as { type?: unknown }).type) === 'UNKNOWN_TOPIC_OR_PARTITION',
    },
  )
  return async () => {
    await admin.deleteTopics({ topics: topics.map((t) => t.topic) })
  }
}

/** A fresh PostgreSQL schema and a client; `drop` removes both. */
export async function createTestSchema(
  prefix = 'xrc_test',
): Promise<{ schema: string; client: pg.Client; drop: () => Promise<void> }> {
  const schema = uniqueName(prefix)
  const client = new pg.Client({ connectionString: stackInfo().databaseUrl })
  await client.connect()
  await client.query(`CREATE SCHEMA ${ident(schema)}`)
  return {
    schema,
    client,
    drop: async () => {
      await client.query(`DROP SCHEMA IF EXISTS ${ident(schema)} CASCADE`)
      await client.end()
    },
  }
}

/** Deletes a registry subject for good (soft delete, then permanent). */
export async function deleteSubject(subject: string): Promise<void> {
  const base = `${stackInfo().registryUrl}/subjects/${encodeURIComponent(subject)}`
  await fetch(base, { method: 'DELETE' })
  await fetch(`${base}?permanent=true`, { method: 'DELETE' })
}
