/**
 * Snapshots and crashes on the real stack, the applier a child process
 * (`xrc applier`) killed with SIGKILL at fault points (lib/faultPoints.ts):
 * inside the apply transaction that activates pending snapshots, inside a
 * retention run (applier.snapshots.maxCount), and `xrc snapshot delete`
 * killed inside the delete of a large snapshot. After each: nothing half
 * made (a snapshot is pending with no pin or active with one; the control
 * row's summary agrees), nothing leaked (every kept version is seen by an
 * active snapshot), each snapshot still reads as the image of its group
 * (the primary's, saved when the test knows it, else a replay of the
 * journal to that group), and the applier restarts and carries on.
 */
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { storeTables } from '../../applier/index.js'
import type { StoreTables } from '../../applier/store/index.js'
import { primaryClient, primaryEndpoint, type PrimaryClient } from '../../cli/primaryClient.js'
import { silentLogger } from '../../lib/logger.js'
import { createPool, type Pool } from '../../lib/postgres.js'
import { waitFor } from '../../lib/retry.js'
import { lastJsonLine, runCli } from '../kit/cli.js'
import { uniqueName } from '../kit/names.js'
import { serviceChild, writeConfigFile, type ServiceChild } from '../kit/services.js'
import { createTestSession, type TestSession } from '../kit/session.js'

const BS = 4096
const BIG = 2048
let session: TestSession
let pool: Pool
let t: StoreTables
let configFile: string
let primary: ServiceChild
let mover: ServiceChild
let applier: ServiceChild
let client: PrimaryClient

const xrc = (args: string[], env: Record<string, string> = {}) =>
  runCli(['--config', configFile, ...args], { timeoutMs: 120_000, env })

beforeAll(async () => {
  session = createTestSession({ controllers: 2, volumesPerController: 1, blocks: BIG })
  configFile = writeConfigFile(session.dataDir, session.settings)
  pool = createPool({ url: session.config.database.url, logger: silentLogger, max: 2 })
  t = storeTables(session.config.applier.schema)
  const child = (service: 'primary' | 'mover' | 'applier') =>
    serviceChild({
      service,
      configFile,
      dir: session.dataDir,
      args: service === 'primary' ? [] : ['--metrics-port', '0'],
    })
  primary = child('primary')
  mover = child('mover')
  applier = child('applier')
  await primary.start()
  await Promise.all([mover.start(), applier.start()])
  client = primaryClient(primaryEndpoint(String(primary.announced.api)))
})

afterAll(async () => {
  for (const s of [applier, mover, primary]) await s?.kill('SIGKILL')
  await pool?.end()
  await session?.cleanup()
})

async function lastApplied(): Promise<{ seq: number; time: number }> {
  const r = await pool.query<{ s: string; t: string | null }>(
    `SELECT group_seq AS s, group_time AS t FROM ${t.control} WHERE session = $1`,
    [session.config.session.name],
  )
  return { seq: Number(r.rows[0]?.s ?? 0), time: Number(r.rows[0]?.t ?? 0) }
}

/** Writes `blocks` random blocks from `first` (in writes of 64) and waits until the secondary applied them. */
async function writeApplied(volume: string, first: number, blocks: number): Promise<void> {
  let time = 0
  for (let b = first; b < first + blocks; b += 64) {
    const ack = await client.write(volume, b, randomBytes(Math.min(64, first + blocks - b) * BS))
    time = Math.max(time, ack.time)
  }
  await waitFor(
    `the writes at ${volume} ${first} to apply`,
    async () => (await lastApplied()).time >= time || undefined,
    {
      timeoutMs: 60_000,
      intervalMs: 50,
    },
  )
}

/** Nothing half made, nothing leaked (see the file comment); the snapshots' names and kept versions. */
async function expectWhole(): Promise<{ names: string[]; versions: number }> {
  const half = await pool.query(
    `SELECT name FROM ${t.snapshots} WHERE (state = 'active') <> (group_seq IS NOT NULL AND group_time IS NOT NULL
       AND journal_offset IS NOT NULL AND activated_at IS NOT NULL)`,
  )
  expect(half.rows).toEqual([])
  const leaked = await pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM ${t.snapshotVersions} v WHERE NOT EXISTS (SELECT 1 FROM ${t.snapshots} s
       WHERE s.state = 'active' AND s.group_time >= v.group_time AND s.group_time < v.superseded_time)`,
  )
  expect(Number(leaked.rows[0]?.n)).toBe(0)
  const summary = await pool.query<{ ok: boolean }>(
    `SELECT c.snapshot_pin_time IS NOT DISTINCT FROM (SELECT max(group_time) FROM ${t.snapshots} WHERE state = 'active')
       AND c.snapshots_pending = (SELECT count(*) FROM ${t.snapshots} WHERE state = 'pending') AS ok
     FROM ${t.control} c WHERE session = $1`,
    [session.config.session.name],
  )
  expect(summary.rows[0]?.ok).toBe(true)
  const names = await pool.query<{ name: string }>(`SELECT name FROM ${t.snapshots} ORDER BY name`)
  const versions = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${t.snapshotVersions}`)
  return { names: names.rows.map((r) => r.name), versions: Number(versions.rows[0]?.n) }
}

async function exportSnapshot(name: string, volume: string): Promise<Buffer> {
  const file = join(session.dataDir, `${name}-${volume}.img`)
  const r = await xrc(['snapshot', 'export', name, volume, file])
  expect(r.code, r.stderr).toBe(0)
  return readFile(file)
}

/** The image of `volume` as of group `seq`, rebuilt from the journal alone (no snapshot). */
async function journalImage(seq: number, volume: string): Promise<Buffer> {
  const into = uniqueName('at_group')
  session.extraSchemas.push(into)
  const r = await xrc(['replay', '--into', into, '--to-group', String(seq), '--no-snapshots', '--json'])
  expect(r.code, r.stderr).toBe(0)
  const file = join(session.dataDir, `${into}.img`)
  expect((await xrc(['volume', 'export', volume, file, '--schema', into])).code).toBe(0)
  return readFile(file)
}

async function killedAtFault(service: ServiceChild, point: string): Promise<void> {
  // the fault may fire before the service has announced itself: the log says which point fired
  await service.start({ env: { XRC_FAULT_POINT: `${point}:kill` } }).catch(() => undefined)
  const code = await service.waitExit()
  const log = await readFile(service.logFile, 'utf8')
  expect(code, log.slice(-3000)).toBeNull()
  expect(log).toContain(`"point":"${point}"`)
}

describe('snapshots across crashes', () => {
  it('SIGKILL in the apply transaction that activates pending snapshots: none half made, all pin their group', async () => {
    await writeApplied('c1v0', 0, 4)
    await applier.stop()
    const { seq } = await lastApplied()
    for (const n of [1, 3, 20]) {
      const r = await xrc(['snapshot', 'create', '--at-group', String(seq + n), '--name', `p${n}`])
      expect(r.code, r.stderr).toBe(0)
    }
    await killedAtFault(applier, 'applier.before-commit')
    expect(await expectWhole()).toEqual({ names: ['p1', 'p20', 'p3'], versions: 0 })
    const pending = await pool.query(`SELECT name FROM ${t.snapshots} WHERE state = 'pending'`)
    expect(pending.rows).toHaveLength(3)

    await applier.start()
    await writeApplied('c1v0', 0, 4)
    const pinned = await waitFor(
      'every pending snapshot to pin its group',
      async () => {
        const r = await pool.query<{ name: string; group_seq: string; at_group: string }>(
          `SELECT name, group_seq, at_group FROM ${t.snapshots} WHERE state = 'active' ORDER BY name`,
        )
        return r.rows.length === 3 ? r.rows : undefined
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    )
    for (const row of pinned) expect(row.group_seq).toEqual(row.at_group)
    await expectWhole()
    for (const n of [1, 3])
      expect((await exportSnapshot(`p${n}`, 'c1v0')).equals(await journalImage(seq + n, 'c1v0'))).toBe(true)
  }, 180_000)

  const images: Buffer[] = []
  it('SIGKILL in a retention run: every snapshot whole until a retention run commits, then the newest kept', async () => {
    for (let i = 0; i < 3; i++) {
      await writeApplied('c1v0', 0, 4)
      images.push(await session.primaryImage('c1v0'))
      expect((await xrc(['snapshot', 'create', '--name', `r${i}`])).code).toBe(0)
    }
    await writeApplied('c1v0', 0, 4)
    const before = await expectWhole()
    expect(before.versions).toBeGreaterThan(0)
    await applier.stop()
    const retainFile = join(session.dataDir, 'xrc-retain.json')
    const settings = session.settings as { applier: Record<string, unknown> }
    const retain = { ...settings, applier: { ...settings.applier, snapshots: { maxCount: 1 } } }
    await writeFile(retainFile, JSON.stringify(retain))
    applier = serviceChild({
      service: 'applier',
      configFile: retainFile,
      dir: session.dataDir,
      args: ['--metrics-port', '0'],
      name: 'applier-retain',
    })

    await killedAtFault(applier, 'snapshots.before-commit')
    expect(await expectWhole()).toEqual(before)
    for (let i = 0; i < 3; i++) expect((await exportSnapshot(`r${i}`, 'c1v0')).equals(images[i] as Buffer)).toBe(true)

    await applier.start()
    await writeApplied('c1v0', 8, 1)
    await waitFor(
      'retention to keep the newest snapshot only',
      async () => {
        const { names } = await expectWhole()
        return names.length === 1 ? names : undefined
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    )
    expect((await expectWhole()).names).toEqual(['r2'])
    expect((await exportSnapshot('r2', 'c1v0')).equals(images[2] as Buffer)).toBe(true)
    const metrics = await (await fetch(String(applier.announced.metrics))).text()
    expect(metrics).toMatch(/xrc_applier_snapshots\{[^}]*state="active"[^}]*\} 1\n/)
    expect(metrics).toMatch(/xrc_applier_snapshots_retired_total\{[^}]*\} 5\n/)
    const status = await xrc(['status'])
    expect(status.stdout).toMatch(/snapshots +1 active, 0 pending; \d+ kept block versions/)
  }, 180_000)

  it('SIGKILL of xrc snapshot delete inside the delete of a large snapshot: it stays whole, then deletes', async () => {
    await writeApplied('c0v0', 0, BIG)
    const image = await session.primaryImage('c0v0')
    expect((await xrc(['snapshot', 'create', '--name', 'big'])).code).toBe(0)
    await writeApplied('c0v0', 0, BIG)
    const held = await waitFor(
      'retention to leave only the big snapshot',
      async () => {
        const w = await expectWhole()
        return w.names.length === 1 ? w : undefined
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    )
    expect(held.names).toEqual(['big'])
    expect(held.versions).toBeGreaterThanOrEqual(BIG)

    const killed = await xrc(['snapshot', 'delete', 'big'], { XRC_FAULT_POINT: 'snapshots.before-commit:kill' })
    expect(killed.code).toBeNull()
    expect(killed.stderr).toContain('"point":"snapshots.before-commit"')
    expect(await expectWhole()).toEqual(held)
    expect((await exportSnapshot('big', 'c0v0')).equals(image)).toBe(true)

    const r = await xrc(['snapshot', 'delete', 'big', '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(lastJsonLine(r)).toMatchObject({ name: 'big', versionsFreed: held.versions })
    expect(await expectWhole()).toEqual({ names: [], versions: 0 })
    // the applier carried on throughout
    await writeApplied('c0v0', 0, 1)
  }, 240_000)
})
