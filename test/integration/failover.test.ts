/**
 * `xrc failover` and `xrc failback` on the real stack, the services as
 * child processes, a dependent-write workload through the primary's HTTP
 * API all along:
 *   3. the primary site dies (SIGKILL; its files kept as they were); the
 *      failover refuses while the old primary still answers, and while
 *      journaled groups wait for an applier that is down, then brings
 *      the secondary's image up as a new session's primary; the workload
 *      goes on against it, its writes acknowledged and mirrored to the new
 *      session's secondary; the image is the old primary's as of T (the
 *      checker), the lost writes reported are the acknowledged ones after
 *      T, the old secondary is fenced, and a second run changes nothing.
 *   4. the old site returns with its files as they were; `xrc failback`
 *      copies only the segments whose codes differ (bytes within the
 *      changed segments plus 5%), quiesces the takeover primary, and hands
 *      over to a new session at the original site; the workload goes on
 *      there; at the end both sites' images are byte-identical and the
 *      checker finds no mixed state. A failback that fails after the
 *      quiesce lifts it: the takeover primary takes writes again.
 */
import { readFile } from 'node:fs/promises'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBlockStore, storeTables } from '../../applier/index.js'
import { loadConfig, type Config } from '../../lib/config.js'
import { isXrcError } from '../../lib/errors.js'
import { silentLogger } from '../../lib/logger.js'
import { createPool, ident, type Pool } from '../../lib/postgres.js'
import { waitFor } from '../../lib/retry.js'
import { volumePath } from '../../producer/index.js'
import { checkObservation } from '../../workload/checker.js'
import { runDependentWrites, type WorkloadResult } from '../../workload/dependentWrites.js'
import { httpWriteTarget } from '../../workload/httpTarget.js'
import { observeSecondary } from '../../workload/secondaryObserver.js'
import { WriteLog } from '../../workload/writeLog.js'
import { lastJsonLine, runCli } from '../kit/cli.js'
import { logWithout, observationOfImages } from '../kit/imageObservation.js'
import { uniqueName } from '../kit/names.js'
import { serviceChild, startPipelineServices, type ServiceChild } from '../kit/services.js'
import { createTestSession, workloadVolumes, type TestSession } from '../kit/session.js'

interface FailoverReport {
  session: string
  newSession: string
  consistencyTime: number
  groupSeq: number
  rolledBack: unknown
  lostWrites: { count: number; complete: boolean }
  volumes: { name: string; blocks: number; path: string }[]
  bytes: number
  schema: string
  configFile: string
  alreadyDone: boolean
}

let session: TestSession
let configFile: string
let oldServices: ServiceChild[] = []
let newServices: ServiceChild[] = []
let oldApi: string
let pool: Pool
let target = ''
const BLOCKS = 2048 // 8 segments of 256 blocks per volume
const log = new WriteLog()
const stop = new AbortController()
let workload: Promise<WorkloadResult>
let newSession = ''
let newConfig: Config | undefined
let failover: FailoverReport | undefined
let backConfig: Config | undefined
let backServices: ServiceChild[] = []
/** Acknowledged writes the old site took with it: after T, acknowledged before it died. */
let lostWithSite: (w: { status: string; time?: number }) => boolean = () => false

interface FailbackReport {
  session: string
  originalSession: string
  newSession: string
  consistencyTime: number
  passes: { phase: string; compared: number; copied: number; deferred: number; bytesCopied: number }[]
  segments: number
  segmentsCopied: number
  bytesCopied: number
  fullCopyBytes: number
  volumes: { name: string; blocks: number; path: string }[]
  configFile: string
  alreadyDone: boolean
}

beforeAll(async () => {
  session = createTestSession({ controllers: 2, volumesPerController: 2, blocks: BLOCKS })
  ;({ configFile, services: oldServices, api: oldApi } = await startPipelineServices(session.dataDir, session.settings))
  pool = createPool({ url: session.config.database.url, logger: silentLogger, max: 2 })
  target = oldApi
  workload = runDependentWrites(
    httpWriteTarget(() => target, 5000),
    {
      volumes: workloadVolumes(session.config),
      blockSize: session.config.session.blockSize,
      writers: 4,
      // a hot set of 16 blocks per writer: the writes stay in the first segment of each volume
      blocksPerWriter: 16,
      signal: stop.signal,
      seed: 3,
      log,
      onError: () => 200,
    },
  )
})

afterAll(async () => {
  stop.abort()
  await workload
  for (const s of [...oldServices, ...newServices, ...backServices]) await s.kill('SIGKILL')
  if (newConfig) await dropSession(newConfig)
  if (backConfig) await dropSession(backConfig)
  await pool?.end()
  await session?.cleanup()
})

/** The new session's topics, subjects and schema go with the test's. */
async function dropSession(config: Config): Promise<void> {
  const client = new pg.Client({ connectionString: config.database.url })
  await client.connect()
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${ident(config.applier.schema)} CASCADE`)
  } finally {
    await client.end()
  }
  const { sessionTopics } = await import('../../schemas/topicNames.js')
  const { testKafka } = await import('../kit/servers.js')
  const admin = testKafka().admin()
  await admin.connect()
  try {
    const t = sessionTopics(config.session.name)
    const existing = new Set(await admin.listTopics())
    const mine = [t.updates, t.journal, t.deadLetter, t.applied, t.control].filter((x) => existing.has(x))
    if (mine.length > 0) await admin.deleteTopics({ topics: mine })
  } finally {
    await admin.disconnect()
  }
}

const ackedCount = (): number => log.counts().acked

const runFailover = (...args: string[]) =>
  runCli(['--config', configFile, 'failover', '--new-session', newSession, '--primary', oldApi, ...args], {
    timeoutMs: 180_000,
  })

describe('xrc failover', () => {
  it('refuses while the old primary still answers', async () => {
    newSession = uniqueName('fo')
    await waitFor('writes acknowledged', () => (ackedCount() >= 200 ? true : undefined), { timeoutMs: 60_000 })
    const r = await runFailover('--json')
    expect(r.code, r.stderr).toBe(1)
    expect(r.stderr).toMatch(/primary of session "[^"]+" still answers at http/)
    expect(r.stderr).toMatch(/XRC_FAILOVER_REFUSED/)
    const fenced = await pool.query<{ fenced_by: string | null }>(
      `SELECT fenced_by FROM ${storeTables(session.config.applier.schema).control}`,
    )
    expect(fenced.rows[0]?.fenced_by).toBeNull()
  }, 120_000)

  it('takes over at the secondary site after the primary dies; the workload goes on there', async () => {
    const before = ackedCount()
    await waitFor('more writes acknowledged', () => (ackedCount() >= before + 100 ? true : undefined), {
      timeoutMs: 60_000,
    })
    // the applier dies first: groups are journaled that the secondary has not applied when the primary dies
    const applier = oldServices[2] as ServiceChild
    await applier.kill('SIGKILL')
    const unapplied = ackedCount()
    await waitFor('writes acknowledged past the applier', () => (ackedCount() >= unapplied + 50 ? true : undefined), {
      timeoutMs: 60_000,
    })
    const primary = oldServices[0] as ServiceChild
    await primary.kill('SIGKILL')
    const lastOldAck = log.lastAckedTime()

    const waiting = await runFailover('--json', '--drain-timeout', '2s')
    expect(waiting.code, waiting.stderr).toBe(1)
    expect(waiting.stderr).toMatch(/\d+ group\(s\) of session "[^"]+" are journaled but not applied/)
    // with the applier back, the failover waits for it to apply every journaled group, then takes over
    await applier.start()
    const r = await runFailover('--json', '--drain-timeout', '60s')
    expect(r.code, r.stderr).toBe(0)
    failover = lastJsonLine<FailoverReport>(r)
    const t = failover.consistencyTime
    expect(failover.alreadyDone).toBe(false)
    expect(failover.groupSeq).toBeGreaterThan(0)
    expect(failover.volumes.map((v) => v.name).sort()).toEqual(workloadVolumes(session.config).map((v) => v.name))

    // the image the new primary starts from is the old primary's as of T, never a mix (the checker)
    const blockSize = session.config.session.blockSize
    const images = new Map<string, Buffer>()
    for (const v of failover.volumes) images.set(v.name, await readFile(v.path))
    lostWithSite = (w) => w.status === 'acked' && (w.time ?? 0) > t && (w.time ?? 0) <= lastOldAck
    const survivors = logWithout(log, lostWithSite)
    expect(checkObservation(survivors, observationOfImages(images, t, blockSize))).toEqual([])
    // and the report's lost writes are the acknowledged ones after T (in-doubt ones may be among them)
    const ackedAfterT = [...log.blocks()].flatMap(([, ws]) => ws).filter(lostWithSite).length
    expect(failover.lostWrites.complete).toBe(true)
    expect(failover.lostWrites.count).toBeGreaterThanOrEqual(ackedAfterT)
    expect(failover.lostWrites.count).toBeLessThanOrEqual(ackedAfterT + log.counts().indoubt)
    console.log(
      `failover figures: ${JSON.stringify({ T: t, group: failover.groupSeq, ackedAfterT, reported: failover.lostWrites.count, indoubt: log.counts().indoubt, bytes: failover.bytes })}`,
    )

    // the old secondary is fenced: not even its next group is applied
    const oldStore = createBlockStore({
      pool,
      schema: session.config.applier.schema,
      session: session.config.session.name,
      blockSize,
      volumes: workloadVolumes(session.config),
    })
    await oldStore.init()
    const next = { session: session.config.session.name, groupSeq: failover.groupSeq + 1, groupTime: t + 1 }
    const refused = await oldStore.applyGroup({ ...next, updates: [], controllers: [] }, 1e9).catch((e: unknown) => e)
    expect(isXrcError(refused, 'XRC_FENCED')).toBe(true)
    expect((refused as Error).message).toContain(newSession)

    // status says so
    const status = await runCli(['--config', configFile, 'status', '--json'], { timeoutMs: 60_000 })
    expect(lastJsonLine<{ secondary: { fenced?: { by: string } } }>(status).secondary.fenced?.by).toBe(newSession)

    // a second run changes nothing and says so
    const again = await runFailover('--json')
    expect(again.code, again.stderr).toBe(0)
    expect(lastJsonLine<FailoverReport>(again)).toMatchObject({ alreadyDone: true, consistencyTime: t })

    // the new session at the secondary site: its primary serves the image, the workload goes on there
    newConfig = loadConfig({ file: failover.configFile })
    const dir = newConfig.session.dataDir
    newServices = (['primary', 'mover', 'applier'] as const).map((service) =>
      serviceChild({
        service,
        configFile: failover?.configFile as string,
        dir,
        name: `new-${service}`,
        args: service === 'primary' ? [] : ['--metrics-port', '0'],
      }),
    )
    for (const s of newServices) await s.start()
    const switched = ackedCount()
    target = String(newServices[0]?.announced.api)
    await waitFor('writes acknowledged by the new primary', () => (ackedCount() >= switched + 200 ? true : undefined), {
      timeoutMs: 90_000,
    })
    expect(lastOldAck).toBeLessThan(log.lastAckedTime())

    // mirrored: the new session's secondary catches up, and holds exactly its primary's image
    const newSchema = newConfig.applier.schema
    const lastAck = log.lastAckedTime()
    await waitFor(
      'the new secondary to pass the last acknowledged write',
      async () => ((await observeSecondary(pool, newSchema, newSession))?.groupTime ?? 0) >= lastAck || undefined,
      { timeoutMs: 60_000, intervalMs: 200 },
    )
    // observed first, the log copied after: every write the image can hold is in the copy
    const observed = await observeSecondary(pool, newSchema, newSession)
    expect(observed).toBeDefined()
    const survivorsNow = logWithout(log, lostWithSite)
    expect(checkObservation(survivorsNow, observed as NonNullable<typeof observed>)).toEqual([])
    expect(volumePath(dir, newSession, 'c0v0')).toBe(failover.volumes.find((v) => v.name === 'c0v0')?.path)
  }, 300_000)
})

describe('xrc failback', () => {
  it('refuses a session that did not come from a failover', async () => {
    const r = await runCli(['--config', configFile, 'failback', '--new-session', uniqueName('fb'), '--primary', oldApi])
    expect(r.code, r.stderr).toBe(1)
    expect(r.stderr).toMatch(/session "[^"]+" is not the product of a failover/)
  })

  it('copies only the differing segments home, swaps back, and both sites end byte-identical', async () => {
    expect(failover).toBeDefined()
    const fo = failover as FailoverReport
    const takeover = newConfig as Config
    const takeoverApi = String(newServices[0]?.announced.api)
    const names = workloadVolumes(session.config).map((v) => v.name)
    const backSession = uniqueName('fb')
    const failback = (...args: string[]) =>
      runCli(['--config', fo.configFile, 'failback', '--new-session', backSession, '--primary', takeoverApi, ...args], {
        timeoutMs: 180_000,
      })

    // a failback that fails after the quiesce (the takeover secondary's applier is down, so it cannot pass the
    // quiesce time) gives production back: the takeover primary takes writes again
    const takeoverApplier = newServices[2] as ServiceChild
    await takeoverApplier.kill('SIGKILL')
    const failed = await failback('--online-passes', '0', '--catch-up', '2s')
    expect(failed.code, failed.stderr).toBe(1)
    expect(failed.stderr).toMatch(/the takeover secondary to pass the quiesce time.*XRC_TIMEOUT/s)
    await takeoverApplier.start()
    const resumed = ackedCount()
    await waitFor(
      'writes acknowledged again after the failed failback',
      () => (ackedCount() >= resumed + 50 ? true : undefined),
      { timeoutMs: 60_000 },
    )

    // the original site's volumes as they are now (the failed run copied some segments home)
    const before = new Map<string, Buffer>()
    for (const v of names) before.set(v, await readFile(volumePath(session.dataDir, session.config.session.name, v)))
    // one write away from the workload's hot blocks: a segment that changes once, and is cold by the failback
    const cold = await fetch(`${takeoverApi}/v1/volumes/c1v1/blocks/${5 * 256 + 3}`, {
      method: 'POST',
      body: Buffer.alloc(takeover.session.blockSize, 0xab),
      headers: { 'content-type': 'application/octet-stream' },
    })
    expect(cold.status).toBe(200)
    const coldAt = Date.now()
    await waitFor(
      'the cold segment to leave the 1 s hot window',
      () => (Date.now() - coldAt > 1500 ? true : undefined),
      {
        timeoutMs: 10_000,
        intervalMs: 100,
      },
    )

    const r = await failback('--original-primary', oldApi, '--hot', '1s', '--json')
    expect(r.code, r.stderr).toBe(0)
    const report = lastJsonLine<FailbackReport>(r)
    expect(report).toMatchObject({ session: takeover.session.name, newSession: backSession, alreadyDone: false })

    // the takeover primary is quiesced: a write is refused, certainly not taken
    const refused = await fetch(`${takeoverApi}/v1/volumes/c0v0/blocks/0`, {
      method: 'POST',
      body: Buffer.alloc(4096),
      headers: { 'content-type': 'application/octet-stream' },
    })
    expect(refused.status).toBe(503)
    expect(((await refused.json()) as { code: string }).code).toBe('XRC_CLOSED')

    // the original site's volumes are now the takeover primary's, and only the changed segments were copied
    const segmentBytes = takeover.session.segmentBlocks * takeover.session.blockSize
    let changed = 0
    for (const v of report.volumes) {
      const after = await readFile(v.path)
      expect(after.equals(await readFile(volumePath(takeover.session.dataDir, takeover.session.name, v.name)))).toBe(
        true,
      )
      const old = before.get(v.name) as Buffer
      for (let off = 0; off < after.length; off += segmentBytes)
        if (!after.subarray(off, off + segmentBytes).equals(old.subarray(off, off + segmentBytes))) changed++
    }
    const changedBytes = changed * segmentBytes
    console.log(
      `failback figures: ${JSON.stringify({ changedSegments: changed, segments: report.segments, segmentsCopied: report.segmentsCopied, bytesCopied: report.bytesCopied, changedBytes, fullCopyBytes: report.fullCopyBytes, passes: report.passes })}`,
    )
    expect(changed).toBeGreaterThan(0)
    expect(report.bytesCopied).toBeGreaterThanOrEqual(changedBytes)
    expect(report.bytesCopied).toBeLessThanOrEqual(changedBytes * 1.05)
    expect(report.fullCopyBytes).toBe(names.length * BLOCKS * takeover.session.blockSize)
    expect(report.passes.at(-1)).toMatchObject({ phase: 'check', copied: 0 })
    // the cold segment went while writes went on; the workload's hot ones waited for the final pass
    expect(report.passes[0]).toMatchObject({ phase: 'online', copied: 1 })
    expect(report.passes[1]?.phase).toBe('final')

    // a second run changes nothing
    const again = await failback('--json')
    expect(again.code, again.stderr).toBe(0)
    expect(lastJsonLine<FailbackReport>(again)).toMatchObject({ alreadyDone: true, bytesCopied: report.bytesCopied })

    // the swap: the takeover session stops, the new session starts at the original site; the workload goes on
    for (const s of newServices) await s.stop()
    backConfig = loadConfig({ file: report.configFile })
    backServices = (['primary', 'mover', 'applier'] as const).map((service) =>
      serviceChild({
        service,
        configFile: report.configFile,
        dir: backConfig?.session.dataDir as string,
        name: `back-${service}`,
        args: service === 'primary' ? [] : ['--metrics-port', '0'],
      }),
    )
    for (const s of backServices) await s.start()
    const switched = ackedCount()
    target = String(backServices[0]?.announced.api)
    await waitFor(
      'writes acknowledged at the original site',
      () => (ackedCount() >= switched + 200 ? true : undefined),
      {
        timeoutMs: 90_000,
      },
    )
    stop.abort()
    await workload

    // both sites byte-identical once the secondary has every write, and prefix-consistent by the checker
    const back = backConfig
    const lastAck = log.lastAckedTime()
    await waitFor(
      'the secondary of the new session to pass the last acknowledged write',
      async () =>
        ((await observeSecondary(pool, back.applier.schema, backSession))?.groupTime ?? 0) >= lastAck || undefined,
      { timeoutMs: 60_000, intervalMs: 200 },
    )
    const observed = await observeSecondary(pool, back.applier.schema, backSession)
    expect(checkObservation(logWithout(log, lostWithSite), observed as NonNullable<typeof observed>)).toEqual([])
    const store = createBlockStore({
      pool,
      schema: back.applier.schema,
      session: backSession,
      blockSize: back.session.blockSize,
      volumes: workloadVolumes(back),
    })
    const { images } = await store.readImages(names)
    await backServices[0]?.stop()
    for (const v of names) {
      const primaryImage = await readFile(volumePath(back.session.dataDir, backSession, v))
      expect(primaryImage.equals(images.get(v) as Buffer), v).toBe(true)
    }
    expect(log.counts().acked).toBeGreaterThan(switched + 200)
  }, 300_000)
})
