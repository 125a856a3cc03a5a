/**
 * Operator suspend and resume, end to end on the shared stack (producer,
 * mover and applier in this process; `xrc suspend`, `xrc resume` and
 * `xrc rollback` run as a user runs them, as child processes):
 *
 * 1. Under heavy dependent writes the operator suspends; writes go on,
 *    marked; the operator resumes: the resync sends the marked blocks while
 *    writes keep coming. Every observation the secondary calls consistent
 *    is exactly the primary's writes up to its time; it says inconsistent
 *    while the resync is applied; the images end byte-identical.
 * 2. A resync with no writes during it sends the changed blocks' bytes plus
 *    framing, within 5%.
 * 3. The primary is lost in the middle of a (slow) resync: `xrc rollback`
 *    returns the secondary to its last consistent image.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createApplier, type Applier } from '../../applier/index.js'
import { resyncTables } from '../../applier/index.js'
import { loadConfig } from '../../lib/config.js'
import { silentLogger } from '../../lib/logger.js'
import { createPool, type Pool } from '../../lib/postgres.js'
import { waitFor } from '../../lib/retry.js'
import { createMover, type Mover } from '../../mover/index.js'
import { createPrimary, startHttpApi, type HttpApi, type Primary } from '../../producer/index.js'
import { checkObservation } from '../../workload/checker.js'
import { runDependentWrites } from '../../workload/dependentWrites.js'
import { WriteLog } from '../../workload/writeLog.js'
import { lastJsonLine, runCli } from '../kit/cli.js'
import { observeImage, watchResync } from '../kit/resyncWatch.js'
import { writeConfigFile } from '../kit/services.js'
import { createTestSession, workloadVolumes, type TestSession } from '../kit/session.js'

let session: TestSession
let pool: Pool
let primary: Primary
let api: HttpApi | undefined
let mover: Mover
let applier: Applier
let configFile: string
const log = new WriteLog()

beforeAll(async () => {
  session = createTestSession({
    controllers: 3,
    volumesPerController: 2,
    blocks: 256,
    extra: { resync: { probeMs: 200 }, applier: { feedbackMs: 200 } },
  })
  const { config } = session
  configFile = writeConfigFile(session.dataDir, session.settings)
  pool = createPool({ url: config.database.url, logger: silentLogger, max: 3 })
  primary = createPrimary({ config, logger: silentLogger })
  mover = createMover({ config, logger: silentLogger })
  applier = createApplier({ config, logger: silentLogger, pool })
  await primary.start()
  // port 0: the API takes a free port and says which (api.url)
  api = await startHttpApi({ primary, port: 0, logger: silentLogger })
  // the primary registers the updates schema first: two clients creating one subject at once can race in the registry
  await waitFor('the primary connected', () => (primary.status().kafka.state === 'connected' ? true : undefined), {
    timeoutMs: 30_000,
  })
  // one after the other: two clients registering one subject at once can race in the registry
  await mover.start()
  await applier.start()
})

afterAll(async () => {
  await api?.close()
  await primary?.stop()
  await mover?.stop()
  await applier?.stop()
  await pool?.end()
  await session?.cleanup()
})

const xrc = (...args: string[]): ReturnType<typeof runCli> =>
  runCli(['--config', configFile, ...args], { timeoutMs: 90_000 })

/** Waits until every controller's sidefile is sent: the RESYNC bytes are all counted. */
async function drained(p: Primary): Promise<void> {
  await waitFor(
    'the sidefiles sent',
    () => (p.status().controllers.every((c) => c.sidefile.entries === 0) ? true : undefined),
    { timeoutMs: 30_000, intervalMs: 20 },
  )
}

/** Waits until the secondary applied everything acknowledged and the last resync, and calls itself consistent. */
async function caughtUp(): Promise<void> {
  const last = Math.max(log.lastAckedTime(), primary.status().mirror.resync?.endTime ?? 0)
  await waitFor(
    'a consistent secondary past the last write',
    async () => {
      const obs = await observeImage(pool, session.config.applier.schema, session.config.session.name)
      return obs && obs.groupTime >= last && obs.image === 'consistent' ? true : undefined
    },
    { timeoutMs: 60_000, intervalMs: 100 },
  )
}

async function identicalVolumes(): Promise<number> {
  const volumes = workloadVolumes(session.config).map((v) => v.name)
  const { images } = await applier.store.readImages(volumes)
  let identical = 0
  for (const v of volumes) if ((await session.primaryImage(v)).equals(images.get(v) ?? Buffer.alloc(0))) identical++
  return identical
}

it('suspends and resumes under heavy writes: consistent whenever it says so, and byte-identical at the end', async () => {
  const { config } = session
  const watch = watchResync({ pool, schema: config.applier.schema, session: config.session.name, log })
  const ac = new AbortController()
  const run = runDependentWrites(primary, {
    volumes: workloadVolumes(config),
    blockSize: config.session.blockSize,
    writers: 8,
    blocksPerWriter: 24,
    signal: ac.signal,
    seed: 7,
    log,
  })
  await waitFor(
    'groups applied under load',
    async () => (((await applier.store.lastApplied())?.groupSeq ?? 0) >= 10 && log.counts().acked > 200) || undefined,
    { timeoutMs: 60_000 },
  )

  const suspended = await xrc('suspend', '--primary', api?.url as string, '--json')
  expect(suspended.code, suspended.stderr).toBe(0)
  expect(
    lastJsonLine<{ suspended: { mirror: { state: string; reason: string } }[] }>(suspended).suspended[0]?.mirror,
  ).toMatchObject({ state: 'suspended', reason: 'operator' })
  await waitFor(
    'writes marked while suspended',
    () => (primary.status().mirror.markedWrites >= 600 ? true : undefined),
    { timeoutMs: 60_000, intervalMs: 20 },
  )
  const marked = primary.status().mirror
  expect(marked.state).toBe('suspended')
  expect(primary.health().status).toBe('degraded')

  const resumed = await xrc('resume', '--primary', api?.url as string, '--json')
  // the marks at the moment the resync began: the changed blocks it had to send
  expect(resumed.code, resumed.stderr).toBe(0)
  const summary = lastJsonLine<{ blocksResynced: number }>(resumed)
  expect(primary.status().mirror.state).toBe('duplex')
  const acked = log.counts().acked
  await waitFor('writes after the resync', () => (log.counts().acked > acked + 200 ? true : undefined), {
    timeoutMs: 60_000,
    intervalMs: 20,
  })
  ac.abort()
  const result = await run
  await drained(primary)
  await caughtUp()
  const report = await watch.stop()
  const identical = await identicalVolumes()
  const m = primary.status().mirror
  const figures = {
    writesAcknowledged: result.acked,
    writesWhileSuspended: m.markedWrites,
    blocksMarked: m.resync?.blocksTotal,
    blocksResynced: m.resync?.blocksSent,
    staleCopiesDropped: m.resync?.staleCopies,
    resyncBytes: m.resync?.bytesSent,
    consistentObservations: report.consistent,
    inconsistentObservations: report.inconsistent,
    mixedStates: report.mixed,
    volumesIdentical: `${identical}/${workloadVolumes(config).length}`,
  }
  console.log(`resync figures (operator suspend/resume under writes): ${JSON.stringify(figures)}`)
  expect(report.samples).toEqual([])
  expect(report.mixed).toBe(0)
  expect(report.consistent).toBeGreaterThan(5)
  expect(report.inconsistent).toBeGreaterThan(0)
  expect(summary.blocksResynced).toBe(m.resync?.blocksSent)
  expect((m.resync?.blocksSent ?? 0) + (m.resync?.staleCopies ?? 0)).toBeGreaterThan(0)
  const changedBlocks = m.resync?.blocksTotal ?? 0
  expect(changedBlocks).toBeGreaterThanOrEqual(marked.changes.pending)
  expect(m.resync?.blocksSent ?? 0).toBeLessThanOrEqual(changedBlocks)
  // nothing but changed blocks, plus framing: never more than 5% above their bytes
  expect(m.resync?.bytesSent ?? 0).toBeLessThanOrEqual(1.05 * changedBlocks * config.session.blockSize)
  expect(identical).toBe(workloadVolumes(config).length)
}, 180_000)

it('a quiet resync sends the changed blocks within 5%; a secondary left mid-resync rolls back to its last consistent image', async () => {
  const { config } = session
  const bs = config.session.blockSize
  // 2. marked blocks, no writes during the resync
  await primary.suspend()
  const volumes = workloadVolumes(config)
  const changed = new Set<string>()
  // blocks 200..255: the dependent writers (at most 8 x 30 hot blocks, from 0) never touch them, so the checker's log stays true
  for (let i = 0; i < 400; i++) {
    const v = volumes[i % volumes.length] as (typeof volumes)[number]
    const block = 200 + Math.floor(Math.random() * (v.blocks - 200))
    await primary.write({ volume: v.name, block, data: randomBytes(bs) })
    changed.add(`${v.name}/${block}`)
  }
  expect(primary.status().mirror.changes.pending).toBe(changed.size)
  await primary.resume()
  await waitFor('the quiet resync', () => (primary.status().mirror.state === 'duplex' ? true : undefined), {
    timeoutMs: 60_000,
    intervalMs: 20,
  })
  await drained(primary)
  const quiet = primary.status().mirror.resync
  const changedBytes = changed.size * bs
  const overhead = (quiet?.bytesSent ?? 0) / changedBytes - 1
  console.log(
    `resync figures (quiet): ${JSON.stringify({ blocksChanged: changed.size, blocksResynced: quiet?.blocksSent, bytesChanged: changedBytes, bytesSent: quiet?.bytesSent, overheadPercent: Math.round(overhead * 1000) / 10 })}`,
  )
  expect(quiet?.blocksSent).toBe(changed.size)
  expect(overhead).toBeGreaterThanOrEqual(0)
  expect(overhead).toBeLessThanOrEqual(0.05)
  // consistent again once it applied a group past the resync's end (until then a rollback would go back before it)
  await caughtUp()

  // 3. a slow resync, the primary lost in its middle
  await primary.suspend()
  await api?.close()
  api = undefined
  await primary.stop()
  const slow = loadConfig({
    overrides: {
      ...session.settings,
      // one 2-block group a second per controller: the resync lasts about 20 s, and is in its middle when stopped
      resync: { groupBlocks: 2, maxGroupsInFlight: 1, maxBytesPerSecond: 8 * 1024 },
    },
  })
  primary = createPrimary({ config: slow, logger: silentLogger })
  await primary.start()
  expect(primary.status().mirror).toMatchObject({ state: 'suspended', reason: 'operator' }) // it stays suspended across a restart
  const ac = new AbortController()
  const run = runDependentWrites(primary, {
    volumes,
    blockSize: bs,
    writers: 6,
    blocksPerWriter: 30,
    signal: ac.signal,
    seed: 11,
    log,
  })
  await waitFor('writes marked', () => (primary.status().mirror.changes.pending >= 120 ? true : undefined), {
    timeoutMs: 60_000,
    intervalMs: 20,
  })
  ac.abort()
  await run
  await applier.waitCaughtUp({ timeoutMs: 30_000 })
  const before = await observeImage(pool, config.applier.schema, config.session.name)
  await primary.resume()
  const r = resyncTables(config.applier.schema)
  await waitFor(
    'resync groups applied to the secondary',
    async () =>
      ((await pool.query<{ n: bigint }>(`SELECT count(*) AS n FROM ${r.versions}`)).rows[0]?.n ?? 0n) >= 8n ||
      undefined,
    { timeoutMs: 60_000, intervalMs: 50 },
  )
  const resyncing = primary.status().mirror
  expect(resyncing.state).toBe('resyncing')
  await primary.stop() // the primary is lost
  await applier.waitCaughtUp({ timeoutMs: 30_000 })
  await mover.stop()
  await applier.stop()
  const middle = await observeImage(pool, config.applier.schema, config.session.name)
  expect(middle?.image).toBe('inconsistent')

  const rolled = await xrc('rollback', '--json')
  expect(rolled.code, rolled.stderr).toBe(0)
  const rb = lastJsonLine<{ groupSeq: number; groupTime: number; blocksRestored: number; groupsUndone: number }>(rolled)
  const after = await observeImage(pool, config.applier.schema, config.session.name)
  const violations = after ? checkObservation(log, after) : ['no image']
  console.log(
    `rollback figures: ${JSON.stringify({ rolledBackToGroup: rb.groupSeq, blocksRestored: rb.blocksRestored, groupsUndone: rb.groupsUndone, violations: violations.length, rollbackVerified: violations.length === 0 })}`,
  )
  expect(after?.image).toBe('rolled-back')
  expect(after?.groupSeq).toBe(rb.groupSeq)
  // the last group at or before S: what the secondary held when it was last consistent
  expect(rb.groupSeq).toBeGreaterThanOrEqual(before?.groupSeq ?? 0)
  expect(rb.groupTime).toBeLessThanOrEqual(resyncing.consistentUntil as number)
  expect(rb.blocksRestored).toBeGreaterThan(0)
  expect(rb.groupsUndone).toBeGreaterThan(0)
  expect(violations).toEqual([])
  expect((await pool.query<{ n: bigint }>(`SELECT count(*) AS n FROM ${r.versions}`)).rows[0]?.n).toBe(0n)
  // a second rollback has nothing to do
  const again = await xrc('rollback')
  expect(again.code).toBe(2)
  expect(again.stderr).toMatch(/nothing to roll back/)
}, 180_000)
