/**
 * The applier never gives up silently: a PostgreSQL outage longer than the
 * old bound of 8 failed attempts (a TCP proxy in front of PostgreSQL that
 * refuses every connection) is ridden out, with /health 503 naming the
 * outage meanwhile and 200 once it ends, the groups then applied whole and
 * in order; and the watchdog: an applier whose apply waits on the control
 * row lock another connection holds answers 503 within applier.stallAfterMs,
 * its RPO gauge growing meanwhile, and carries on once the lock goes.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'
import type { KafkaAdmin, KafkaClient } from '../../lib/kafka/index.js'
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApplier, type Applier } from '../../applier/index.js'
import type { Config } from '../../lib/config.js'
import { silentLogger } from '../../lib/logger.js'
import { serveMetrics } from '../../lib/metrics.js'
import { ident } from '../../lib/postgres.js'
import { waitFor } from '../../lib/retry.js'
import type { ConsistencyGroup } from '../../schemas/journal.js'
import { createTestJournal, modelImage, randomGroups, testConfig, toRecords, TEST_VOLUMES } from '../kit/journal.js'
import { createTestSchema, stackInfo, testKafka } from '../kit/servers.js'

let kafka: KafkaClient
let admin: KafkaAdmin
const cleanups: (() => Promise<void>)[] = []

beforeAll(async () => {
  kafka = testKafka()
  admin = kafka.admin()
  await admin.connect()
})

afterAll(async () => {
  for (const c of cleanups.reverse()) await c()
  await admin.disconnect()
})

/** A TCP proxy to PostgreSQL that can go down (every connection cut, new ones refused) and come back. */
interface Proxy {
  url: string
  down(): Promise<void>
  up(): Promise<void>
  close(): Promise<void>
}

async function startProxy(): Promise<Proxy> {
  const target = new URL(stackInfo().databaseUrl)
  const sockets = new Set<Socket>()
  let server: Server | undefined
  let port = 0
  const listen = async (): Promise<void> => {
    const s = createServer((client) => {
      const upstream = connect(Number(target.port || 5432), target.hostname)
      sockets.add(client).add(upstream)
      for (const [a, b] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        a.pipe(b)
        a.on('error', () => b.destroy())
        a.on('close', () => {
          sockets.delete(a)
          b.destroy()
        })
      }
    })
    await new Promise<void>((resolve) => s.listen(port, '127.0.0.1', resolve))
    port = (s.address() as { port: number }).port
    server = s
  }
  const down = async (): Promise<void> => {
    const s = server
    server = undefined
    for (const socket of sockets) socket.destroy()
    await new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()))
  }
  await listen()
  const url = new URL(stackInfo().databaseUrl)
  url.host = `127.0.0.1:${port}`
  return { url: url.toString(), down, up: listen, close: down }
}

async function metric(applier: Applier, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = (await applier.metrics.getMetricsAsJSON()).find((x) => x.name === name)
  const value = m?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
  return (value?.value as number | undefined) ?? 0
}

async function healthCode(port: number): Promise<{ code: number; body: { status: string; reason?: string } }> {
  const res = await fetch(`http://127.0.0.1:${port}/health`)
  return { code: res.status, body: (await res.json()) as { status: string; reason?: string } }
}

interface Setup {
  applier: Applier
  groups: ConsistencyGroup[]
  write(from: number, to: number): Promise<void>
  schema: string
  healthPort: number
}

async function setup(settings: (config: Config) => Config): Promise<Setup & { client: import('pg').Client }> {
  const journal = await createTestJournal(kafka, admin)
  const pg = await createTestSchema('xrc_outage')
  cleanups.push(() => journal.cleanup(), pg.drop)
  const config = settings(testConfig(journal.session, pg.schema))
  const applier = createApplier({ config, logger: silentLogger, kafka, metrics: new Registry() })
  const served = await serveMetrics({ registry: applier.metrics, port: 0, health: () => applier.health() })
  cleanups.push(async () => {
    await applier.stop()
    await served.close()
  })
  const groups = randomGroups(journal.session, 12)
  return {
    applier,
    groups,
    schema: pg.schema,
    client: pg.client,
    healthPort: served.port,
    async write(from, to) {
      for (const g of groups.slice(from - 1, to)) await journal.write(toRecords(g))
    },
  }
}

async function expectImage(applier: Applier, groups: ConsistencyGroup[]): Promise<void> {
  for (const v of TEST_VOLUMES) {
    const { image } = await applier.store.readImage(v.name)
    expect(image.equals(modelImage(groups, v.name)), `volume ${v.name}`).toBe(true)
  }
}

describe('the applier never gives up silently', () => {
  it('rides out a PostgreSQL outage longer than the old give-up, 503 with the reason during it, 200 after', async () => {
    const proxy = await startProxy()
    cleanups.push(() => proxy.close())
    const s = await setup((c) => ({ ...c, database: { url: proxy.url } }))
    await s.write(1, 3)
    await s.applier.start()
    expect(await s.applier.waitCaughtUp({ timeoutMs: 60_000 })).toBe(true)
    expect((await healthCode(s.healthPort)).code).toBe(200)

    await proxy.down()
    await s.write(4, 12)
    // more failed attempts than the 8 after which the applier used to halt
    await waitFor(
      'the applier to fail more than 8 attempts during the outage',
      async () =>
        (await metric(s.applier, 'xrc_applier_retries_total', { source: 'postgres' })) > 8 ? true : undefined,
      { timeoutMs: 150_000, intervalMs: 250 },
    )
    const during = await healthCode(s.healthPort)
    expect(during.code).toBe(503)
    expect(during.body.status).toBe('unavailable')
    expect(during.body.reason).toMatch(/^PostgreSQL unavailable for \d+ s \(\d+ attempts failed; retrying as long/)
    expect(s.applier.status()).toMatchObject({ state: 'running', outage: { source: 'postgres' } })
    expect(await metric(s.applier, 'xrc_applier_outage', { source: 'postgres' })).toBe(1)
    expect(await metric(s.applier, 'xrc_applier_halted')).toBe(0)

    await proxy.up()
    expect(await s.applier.waitCaughtUp({ timeoutMs: 60_000 })).toBe(true)
    const after = await healthCode(s.healthPort)
    expect(after.code).toBe(200)
    expect(after.body.status).toBe('ok')
    expect(s.applier.status().outage).toBeUndefined()
    expect(await metric(s.applier, 'xrc_applier_outage', { source: 'postgres' })).toBe(0)
    expect(s.applier.status().lastApplied?.groupSeq).toBe(12)
    await expectImage(s.applier, s.groups)
  }, 240_000)

  it('the watchdog: a lock held on the control row stalls the applier, 503 within stallAfterMs, RPO growing', async () => {
    const stallAfterMs = 1500
    const s = await setup((c) => ({ ...c, applier: { ...c.applier, stallAfterMs, lockTimeoutMs: 0 } }))
    await s.write(1, 3)
    await s.applier.start()
    expect(await s.applier.waitCaughtUp({ timeoutMs: 60_000 })).toBe(true)
    expect((await healthCode(s.healthPort)).code).toBe(200)

    // another connection holds the control row, as a paused applier inside its transaction would
    await s.client.query('BEGIN')
    await s.client.query(`SELECT * FROM ${ident(s.schema)}.control FOR UPDATE`)
    const heldAt = Date.now()
    await s.write(4, 6)
    const stalled = await waitFor(
      'the watchdog to turn /health 503',
      async () => {
        const h = await healthCode(s.healthPort)
        return h.code === 503 ? h : undefined
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    )
    // within the watchdog's time (plus its observation period and the writes), not the lock timeout's
    expect(Date.now() - heldAt).toBeLessThan(stallAfterMs + 10_000)
    expect(stalled.body.status).toBe('unavailable')
    expect(stalled.body.reason).toMatch(/^stalled: no group applied for \d+ s while the journal holds \d+ records/)
    const rpo1 = await metric(s.applier, 'xrc_applier_rpo_milliseconds')
    const lastT = (s.groups[2] as ConsistencyGroup).groupTime / 1000
    await waitFor(
      'the RPO gauge to grow during the stall',
      async () => ((await metric(s.applier, 'xrc_applier_rpo_milliseconds')) > rpo1 + 200 ? true : undefined),
      { timeoutMs: 10_000, intervalMs: 100 },
    )
    expect(await metric(s.applier, 'xrc_applier_rpo_milliseconds')).toBeGreaterThanOrEqual(Date.now() - lastT - 1000)

    await s.client.query('ROLLBACK')
    expect(await s.applier.waitCaughtUp({ timeoutMs: 60_000 })).toBe(true)
    await waitFor(
      'health to be 200 again',
      async () => ((await healthCode(s.healthPort)).code === 200 ? true : undefined),
      { timeoutMs: 10_000, intervalMs: 100 },
    )
    expect(s.applier.status().stall).toBeUndefined()
    await expectImage(s.applier, s.groups.slice(0, 6))
  }, 120_000)
})
