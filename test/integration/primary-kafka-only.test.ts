/**
 * The primary site reaches only Kafka (issue 11): `xrc primary` runs from a
 * config file with no database section and no DATABASE_URL, beside the
 * mover and the applier (child processes of the built CLI, as an operator
 * runs them), and
 *   - mirrors: its writes reach the secondary's PostgreSQL store;
 *   - hears the secondary through Kafka only: its status shows the applied
 *     group and image state the applier published on the applied topic;
 *   - tells the secondary through Kafka only: a suspend and resume with
 *     writes in between leaves the secondary byte-identical, with each
 *     controller's resync window begun and ended in its resync table (the
 *     BEGIN and END came in the controllers' streams);
 *   - never opens a connection to PostgreSQL (its sockets, read from /proc).
 */
import { randomBytes } from 'node:crypto'
import { readdir, readFile, readlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createBlockStore } from '../../applier/index.js'
import { silentLogger } from '../../lib/logger.js'
import { createPool, type Pool } from '../../lib/postgres.js'
import { waitFor } from '../../lib/retry.js'
import type { PrimaryStatus, WriteAck } from '../../producer/index.js'
import { stackInfo } from '../kit/servers.js'
import { serviceChild, writeConfigFile, type ServiceChild } from '../kit/services.js'
import { createTestSession, type TestSession } from '../kit/session.js'

let session: TestSession
let pool: Pool
let services: ServiceChild[] = []
let primary: ServiceChild
let api: string
const BS = 4096

beforeAll(async () => {
  session = createTestSession({
    controllers: 2,
    volumesPerController: 1,
    blocks: 64,
    extra: { applier: { feedbackMs: 200 }, resync: { probeMs: 200 } },
  })
  pool = createPool({ url: session.config.database.url, logger: silentLogger, max: 2 })
  const secondaryConfig = writeConfigFile(session.dataDir, session.settings)
  // the primary's config: the same session, nothing of the secondary's database
  const { database: _database, ...primarySettings } = session.settings
  expect(JSON.stringify(primarySettings)).not.toMatch(/postgres/)
  const primaryConfig = join(session.dataDir, 'primary-config.json')
  await writeFile(primaryConfig, JSON.stringify(primarySettings, null, 2))
  const mover = serviceChild({ service: 'mover', configFile: secondaryConfig, dir: session.dataDir })
  const applier = serviceChild({ service: 'applier', configFile: secondaryConfig, dir: session.dataDir })
  primary = serviceChild({ service: 'primary', configFile: primaryConfig, dir: session.dataDir })
  services = [primary, mover, applier]
  // an empty variable is no setting (lib/config.ts): the primary gets no DATABASE_URL from this process either
  await primary.start({ env: { DATABASE_URL: '' } })
  await mover.start()
  await applier.start()
  api = String(primary.announced.api)
})

afterAll(async () => {
  for (const s of services) await s.stop().catch(() => undefined)
  await pool?.end()
  await session?.cleanup()
})

async function write(volume: string, block: number, data: Buffer): Promise<WriteAck> {
  const res = await fetch(`${api}/v1/volumes/${volume}/blocks/${block}`, { method: 'POST', body: data })
  expect(res.status, await res.clone().text()).toBe(200)
  return (await res.json()) as WriteAck
}

async function post(path: string): Promise<PrimaryStatus['mirror']> {
  const res = await fetch(`${api}${path}`, { method: 'POST' })
  expect(res.status, await res.clone().text()).toBe(200)
  return (await res.json()) as PrimaryStatus['mirror']
}

async function status(): Promise<PrimaryStatus> {
  return (await (await fetch(`${api}/v1/status`)).json()) as PrimaryStatus
}

/** The secondary holds exactly `expected` (volume/block -> data). */
async function secondaryHolds(expected: Map<string, Buffer>): Promise<boolean> {
  const store = createBlockStore({
    pool,
    schema: session.config.applier.schema,
    session: session.config.session.name,
    blockSize: BS,
    volumes: session.config.session.controllers.flatMap((c) => c.volumes),
  })
  for (const [key, data] of expected) {
    const [volume, block] = key.split('/') as [string, string]
    if (!(await store.readBlock(volume, Number(block))).equals(data)) return false
  }
  return true
}

/** Remote ports of the process's TCP connections (Linux: its socket inodes matched in /proc/<pid>/net/tcp{,6}). */
async function remotePorts(pid: number): Promise<number[]> {
  const inodes = new Set<string>()
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')
    const m = /^socket:\[(\d+)\]$/.exec(link)
    if (m) inodes.add(m[1] as string)
  }
  const ports: number[] = []
  for (const table of ['tcp', 'tcp6']) {
    const text = await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '')
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/)
      if (cols.length > 9 && inodes.has(cols[9] as string))
        ports.push(parseInt((cols[2] as string).split(':')[1] as string, 16))
    }
  }
  return ports
}

it('mirrors with no database setting, hears the applied state through Kafka, and resyncs through the stream', async () => {
  const expected = new Map<string, Buffer>()
  let last: WriteAck | undefined
  for (const [volume, block] of [
    ['c0v0', 3],
    ['c1v0', 7],
    ['c0v0', 4],
  ] as const) {
    const data = randomBytes(BS)
    last = await write(volume, block, data)
    expect(last.seq).toBeGreaterThan(0)
    expect(last.controller).toBe(volume === 'c0v0' ? 0 : 1)
    expected.set(`${volume}/${block}`, data)
  }
  await waitFor('the writes on the secondary', async () => ((await secondaryHolds(expected)) ? true : undefined), {
    timeoutMs: 60_000,
    intervalMs: 100,
  })
  // the applier said so on the applied topic, and the primary heard it
  const heard = await waitFor(
    'the applied state at the primary',
    async () => {
      const m = (await status()).mirror
      return (m.secondary?.groupTime ?? 0) >= (last as WriteAck).time ? m : undefined
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  )
  expect(heard.secondary).toMatchObject({ image: 'CONSISTENT' })
  expect(heard.confirmedTime).toBe(heard.secondary?.groupTime)

  // suspend, write (marked), resume: the resync window travels in the streams
  expect((await post('/v1/suspend')).state).toBe('suspended')
  for (const [volume, block] of [
    ['c0v0', 3],
    ['c1v0', 9],
    ['c1v0', 10],
  ] as const) {
    const data = randomBytes(BS)
    expect((await write(volume, block, data)).seq).toBe(0) // marked, not sent
    expected.set(`${volume}/${block}`, data)
  }
  expect((await post('/v1/resume')).state).toBe('resyncing')
  await waitFor('the resync to end', async () => ((await status()).mirror.state === 'duplex' ? true : undefined), {
    timeoutMs: 60_000,
    intervalMs: 100,
  })
  const after = randomBytes(BS)
  const tail = await write('c1v0', 11, after)
  expected.set('c1v0/11', after)
  await waitFor(
    'the resynced blocks on the secondary',
    async () => ((await secondaryHolds(expected)) ? true : undefined),
    {
      timeoutMs: 60_000,
      intervalMs: 100,
    },
  )
  // each controller's window was begun and ended by the events in its stream, and the image is consistent again
  const rows = await waitFor(
    'both windows done',
    async () => {
      const r = await pool.query<{ controller: number; epoch: string; state: string }>(
        `SELECT controller, epoch::text AS epoch, state FROM "${session.config.applier.schema}".resync ORDER BY controller`,
      )
      return r.rows.every((x) => x.state === 'done') && r.rows.length === 2 ? r.rows : undefined
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  )
  expect(rows).toEqual([
    { controller: 0, epoch: '1', state: 'done' },
    { controller: 1, epoch: '1', state: 'done' },
  ])
  await waitFor(
    'the consistent state at the primary',
    async () => {
      const s = (await status()).mirror.secondary
      return s?.image === 'CONSISTENT' && (s.groupTime ?? 0) >= tail.time ? true : undefined
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  )

  // and all the while the primary held no connection to PostgreSQL
  const pgPort = Number(new URL(stackInfo().databaseUrl).port || 5432)
  const ports = await remotePorts(primary.pid)
  expect(ports.length).toBeGreaterThan(0) // Kafka's
  expect(ports).not.toContain(pgPort)
}, 180_000)
