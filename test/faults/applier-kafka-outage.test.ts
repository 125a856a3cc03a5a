/**
 * The applier rides out an outage of Kafka longer than the Kafka client's
 * own retries, as the README promises ("Outages and stalls"): its broker, a
 * private one, is SIGKILLed while the applier waits on the updates of a
 * marker, and comes back only once the applier has failed to reach it
 * several times. Meanwhile the applier keeps running, with status `outage`
 * (source kafka) and /health 503 naming it; once the broker is back it
 * follows the journal again from its control row and applies every group
 * whole, in order, once. (It used to halt: the look at the updates topic's
 * log start failed, and the service exited 1 on a mere outage.)
 */
import type { KafkaAdmin, KafkaClient } from '../../lib/kafka/index.js'
import { Registry } from 'prom-client'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createApplier, type Applier } from '../../applier/index.js'
import { createKafkaClient, createPartitionReader, ensureTopic, journalTopicSpec } from '../../lib/kafka/index.js'
import { silentLogger } from '../../lib/logger.js'
import { serveMetrics } from '../../lib/metrics.js'
import { waitFor } from '../../lib/retry.js'
import type { ConsistencyGroup } from '../../schemas/journal.js'
import { createTestJournal, modelImage, randomGroups, testConfig, toRecords, TEST_VOLUMES } from '../kit/journal.js'
import { uniqueName } from '../kit/names.js'
import { createTestSchema } from '../kit/servers.js'
import { startPrivateKafka, type PrivateServer } from './harness/privateServers.js'

let broker: PrivateServer
let kafka: KafkaClient
let admin: KafkaAdmin
const cleanups: (() => Promise<void>)[] = []

beforeAll(async () => {
  broker = await startPrivateKafka()
  kafka = createKafkaClient({
    connection: { brokers: [broker.address] },
    clientId: uniqueName('kafka-outage'),
    logger: silentLogger,
    logs: 'none',
  })
  admin = kafka.admin()
  await admin.connect()
  // a broker just started loads its group coordinator first (50 partitions of __consumer_offsets on a busy
  // machine): one reader joins a group before the test, whose subject is an outage, not a fresh broker
  const warmUp = uniqueName('warm-up')
  await ensureTopic(admin, journalTopicSpec(warmUp, 64 * 1024), silentLogger)
  const reader = createPartitionReader({
    kafka,
    topic: warmUp,
    isolation: 'read_committed',
    groupPrefix: warmUp,
    logger: silentLogger,
    onBatch: async () => undefined,
  })
  await reader.start()
  await reader.stop()
}, 300_000)

afterAll(async () => {
  for (const c of cleanups.reverse()) await c()
  await admin?.disconnect()
  await broker?.remove()
})

/** Fails at once when the applier halts: riding out means never halting. */
const notHalted = (applier: Applier) => (): string | undefined => {
  const { state, halt } = applier.status()
  return state === 'halted' ? `the applier halted: ${halt?.code}: ${halt?.message}` : undefined
}

it('rides out a Kafka outage while a marker waits for its updates, then applies every group once', async () => {
  const journal = await createTestJournal(kafka, admin)
  const pg = await createTestSchema('xrc_kafka_outage')
  cleanups.push(() => journal.cleanup(), pg.drop)
  const base = testConfig(journal.session, pg.schema)
  const config = { ...base, kafka: { ...base.kafka, brokers: [broker.address] } }
  const groups: ConsistencyGroup[] = randomGroups(journal.session, 3, { maxUpdates: 8, minUpdates: 1 })
  const [g1, g2, g3] = groups as [ConsistencyGroup, ConsistencyGroup, ConsistencyGroup]
  await journal.write(toRecords(g1))
  // marker 2 is in the journal before its updates are on the updates topic: the applier, once it applied
  // group 1 (read in the same fetch), waits on them
  const releaseUpdates = await journal.writeHeld(toRecords(g2))
  const applier = createApplier({ config, logger: silentLogger, kafka, metrics: new Registry() })
  const served = await serveMetrics({ registry: applier.metrics, port: 0, health: () => applier.health() })
  cleanups.push(async () => {
    await applier.stop()
    await served.close()
  })
  await applier.start()
  await waitFor('group 1 applied', () => (applier.status().lastApplied?.groupSeq === 1 ? true : undefined), {
    timeoutMs: 60_000,
    abortIf: notHalted(applier),
  })

  await broker.crash()
  const outage = await waitFor(
    'the applier to report a Kafka outage it has retried twice',
    () => {
      const o = applier.status().outage
      return o !== undefined && o.source === 'kafka' && o.retries >= 2 ? o : undefined
    },
    { timeoutMs: 180_000, intervalMs: 100, abortIf: notHalted(applier) },
  )
  expect(outage.reason).toMatch(/^Kafka unavailable for \d+ s/)
  const health = await fetch(`http://127.0.0.1:${served.port}/health`)
  expect(health.status).toBe(503)
  expect(((await health.json()) as { reason?: string }).reason).toMatch(/^Kafka unavailable/)
  expect(applier.status().lastApplied?.groupSeq).toBe(1)

  await broker.restart()
  await releaseUpdates()
  await journal.write(toRecords(g3))
  await waitFor('group 3 applied', () => (applier.status().lastApplied?.groupSeq === 3 ? true : undefined), {
    timeoutMs: 120_000,
    abortIf: notHalted(applier),
  })
  await waitFor('the outage to end', () => (applier.status().outage === undefined ? true : undefined), {
    timeoutMs: 30_000,
    abortIf: notHalted(applier),
  })
  expect((await fetch(`http://127.0.0.1:${served.port}/health`)).status).toBe(200)
  const seqs = await pg.client.query<{ group_seq: string }>(
    `SELECT group_seq::text AS group_seq FROM "${pg.schema}".applied_groups ORDER BY group_seq`,
  )
  expect(seqs.rows.map((r) => Number(r.group_seq))).toEqual([1, 2, 3])
  for (const v of TEST_VOLUMES) {
    const { image } = await applier.store.readImage(v.name)
    expect(image.equals(modelImage(groups, v.name)), `volume ${v.name}`).toBe(true)
  }
})
