/**
 * `xrc failover` when the primary site dies in the middle of a resync: the
 * secondary is inconsistent (resync data applied, not complete), so the
 * failover rolls it back to its last consistent image before it fences it
 * and makes it the new session's volumes; that image is the old primary's
 * as of its T (the checker), and the lost-write count says it is only a
 * lower bound (writes made while suspended were only marked).
 */
import { readFile } from 'node:fs/promises'
import pg from 'pg'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { silentLogger } from '../../lib/logger.js'
import { createPool, ident, type Pool } from '../../lib/postgres.js'
import { waitFor } from '../../lib/retry.js'
import type { MirrorStatus } from '../../producer/index.js'
import { checkObservation } from '../../workload/checker.js'
import { runDependentWrites, type WorkloadResult } from '../../workload/dependentWrites.js'
import { httpWriteTarget } from '../../workload/httpTarget.js'
import { WriteLog } from '../../workload/writeLog.js'
import { lastJsonLine, runCli } from '../kit/cli.js'
import { logWithout, observationOfImages } from '../kit/imageObservation.js'
import { uniqueName } from '../kit/names.js'
import { observeImage, writeColdBlocks } from '../kit/resyncWatch.js'
import { startPipelineServices, type ServiceChild } from '../kit/services.js'
import { createTestSession, workloadVolumes, type TestSession } from '../kit/session.js'

let session: TestSession
let configFile: string
let services: ServiceChild[] = []
let api: string
let pool: Pool
const newSession = uniqueName('fo')
const newSchema = `xrc_${newSession}`

beforeAll(async () => {
  session = createTestSession({
    controllers: 2,
    volumesPerController: 1,
    blocks: 512,
    // a slow resync (8 blocks a second per controller, after a burst of one second's worth), so the primary dies in
    // its middle
    extra: { resync: { groupBlocks: 4, maxGroupsInFlight: 1, maxBytesPerSecond: 32 * 1024 } },
  })
  ;({ configFile, services, api } = await startPipelineServices(session.dataDir, session.settings))
  pool = createPool({ url: session.config.database.url, logger: silentLogger, max: 2 })
})

afterAll(async () => {
  for (const s of services) await s.kill('SIGKILL')
  const client = new pg.Client({ connectionString: session.config.database.url })
  await client.connect()
  await client.query(`DROP SCHEMA IF EXISTS ${ident(newSchema)} CASCADE`).finally(() => client.end())
  await pool?.end()
  await session?.cleanup()
})

/** The workload's writers keep to the first WRITERS × BLOCKS_PER_WRITER blocks of each volume (the hot set). */
const WRITERS = 4
const BLOCKS_PER_WRITER = 32
/** Blocks past the hot set written once while suspended (writeColdBlocks). */
const COLD_BLOCKS = 128

async function mirror(): Promise<MirrorStatus> {
  return ((await (await fetch(`${api}/v1/status`)).json()) as { mirror: MirrorStatus }).mirror
}

async function post(path: string): Promise<MirrorStatus> {
  const res = await fetch(`${api}${path}`, { method: 'POST' })
  expect(res.status).toBe(200)
  return (await res.json()) as MirrorStatus
}

it('rolls back the unfinished resync and takes over from the last consistent image', async () => {
  const { config } = session
  const log = new WriteLog()
  const stop = new AbortController()
  let run: Promise<WorkloadResult> | undefined
  const target = httpWriteTarget(() => api, 5000)
  try {
    run = runDependentWrites(target, {
      volumes: workloadVolumes(config),
      blockSize: config.session.blockSize,
      writers: WRITERS,
      blocksPerWriter: BLOCKS_PER_WRITER,
      signal: stop.signal,
      seed: 11,
      log,
      onError: () => 200,
    })
    await waitFor('writes acknowledged', () => (log.counts().acked >= 100 ? true : undefined), { timeoutMs: 60_000 })
    expect((await post('/v1/suspend')).state).toBe('suspended')
    await waitFor('blocks marked', async () => ((await mirror()).changes.pending >= 100 ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 50,
    })
    await writeColdBlocks({
      target,
      log,
      config,
      first: WRITERS * BLOCKS_PER_WRITER,
      end: WRITERS * BLOCKS_PER_WRITER + COLD_BLOCKS,
    })
    expect((await post('/v1/resume')).state).toBe('resyncing')
    await waitFor(
      'the secondary inconsistent, a resync being applied',
      async () =>
        (await observeImage(pool, config.applier.schema, config.session.name))?.image === 'inconsistent'
          ? true
          : undefined,
      { timeoutMs: 60_000, intervalMs: 50 },
    )
    expect((await mirror()).state).toBe('resyncing')
    await (services[0] as ServiceChild).kill('SIGKILL')
  } finally {
    stop.abort()
    await run
  }
  const lastOldAck = log.lastAckedTime()

  const r = await runCli(
    ['--config', configFile, 'failover', '--new-session', newSession, '--primary', api, '--json'],
    { timeoutMs: 180_000 },
  )
  expect(r.code, r.stderr).toBe(0)
  const report = lastJsonLine<{
    consistencyTime: number
    rolledBack: { groupsUndone: number; blocksRestored: number } | null
    lostWrites: { count: number; complete: boolean; uncounted?: string }
    volumes: { name: string; path: string }[]
  }>(r)
  expect(report.rolledBack?.groupsUndone).toBeGreaterThan(0)
  expect(report.rolledBack?.blocksRestored).toBeGreaterThan(0)
  expect(report.lostWrites.complete).toBe(false)
  expect(report.lostWrites.uncounted).toMatch(/resyncing/)

  // the new volumes are the old primary's image as of T: the writes after it (lost) nowhere in it
  const t = report.consistencyTime
  const images = new Map<string, Buffer>()
  for (const v of report.volumes) images.set(v.name, await readFile(v.path))
  const lost = (w: { status: string; time?: number }) =>
    w.status === 'acked' && (w.time ?? 0) > t && (w.time ?? 0) <= lastOldAck
  expect(checkObservation(logWithout(log, lost), observationOfImages(images, t, config.session.blockSize))).toEqual([])
  const image = await observeImage(pool, config.applier.schema, config.session.name)
  expect(image?.image).toBe('rolled-back')
  expect(image?.groupTime).toBe(t)
}, 240_000)
