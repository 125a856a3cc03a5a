/**
 * The primary killed (SIGKILL) in the middle of a resync, as a real child
 * process (`xrc primary`), with a dependent-write workload driving it over
 * HTTP and the mover and applier in this process on the shared stack. The
 * restarted primary finds itself resyncing (mirror.json), goes on from its
 * durable marks, and ends it; the secondary is consistent whenever it says
 * so, and the images end byte-identical.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createApplier, type Applier } from '../../applier/index.js'
import { silentLogger } from '../../lib/logger.js'
import { createPool, type Pool } from '../../lib/postgres.js'
import { waitFor } from '../../lib/retry.js'
import { createMover, type Mover } from '../../mover/index.js'
import type { MirrorStatus } from '../../producer/index.js'
import { runDependentWrites } from '../../workload/dependentWrites.js'
import { httpWriteTarget } from '../../workload/httpTarget.js'
import { WriteLog } from '../../workload/writeLog.js'
import { observeImage, watchResync, writeColdBlocks } from '../kit/resyncWatch.js'
import { serviceChild, writeConfigFile, type ServiceChild } from '../kit/services.js'
import { createTestSession, workloadVolumes, type TestSession } from '../kit/session.js'

let session: TestSession
let pool: Pool
let primary: ServiceChild
let mover: Mover
let applier: Applier
/** The primary's API as it announced itself (it picks a free port on each start). */
const api = (): string => String(primary.announced.api)

beforeAll(async () => {
  session = createTestSession({
    controllers: 3,
    volumesPerController: 2,
    blocks: 128,
    // a slow resync (8 blocks a second per controller, after a burst of one second's worth at each start), so the
    // kill lands in its middle and the restarted primary is still at it when the test looks
    extra: {
      producer: { apiPort: 0 },
      resync: { groupBlocks: 4, maxGroupsInFlight: 1, maxBytesPerSecond: 32 * 1024 },
      applier: { feedbackMs: 250 },
    },
  })
  pool = createPool({ url: session.config.database.url, logger: silentLogger, max: 3 })
  primary = serviceChild({
    service: 'primary',
    configFile: writeConfigFile(session.dataDir, session.settings),
    dir: session.dataDir,
  })
  await primary.start()
  // the primary registers the updates schema first: two processes creating one subject at once can race in the registry
  await waitFor(
    'the primary connected',
    async () =>
      ((await (await fetch(`${api()}/v1/status`)).json()) as { kafka: { state: string } }).kafka.state ===
        'connected' || undefined,
    { timeoutMs: 30_000 },
  )
  mover = createMover({ config: session.config, logger: silentLogger })
  applier = createApplier({ config: session.config, logger: silentLogger, pool })
  // one after the other: two clients registering one subject at once can race in the registry
  await mover.start()
  await applier.start()
})

afterAll(async () => {
  await primary?.kill('SIGKILL')
  await mover?.stop()
  await applier?.stop()
  await pool?.end()
  await session?.cleanup()
})

/** The workload's writers keep to the first WRITERS × BLOCKS_PER_WRITER blocks of each volume (the hot set). */
const WRITERS = 4
const BLOCKS_PER_WRITER = 24

async function mirror(): Promise<MirrorStatus> {
  const res = await fetch(`${api()}/v1/status`)
  return ((await res.json()) as { mirror: MirrorStatus }).mirror
}

async function post(path: string): Promise<MirrorStatus> {
  const res = await fetch(`${api()}${path}`, { method: 'POST' })
  expect(res.status).toBe(200)
  return (await res.json()) as MirrorStatus
}

it('goes on with a resync after the primary is SIGKILLed in its middle, and ends byte-identical', async () => {
  const { config } = session
  const log = new WriteLog()
  const watch = watchResync({ pool, schema: config.applier.schema, session: config.session.name, log })
  const ac = new AbortController()
  const target = httpWriteTarget(api, 5000)
  const run = runDependentWrites(target, {
    volumes: workloadVolumes(config),
    blockSize: config.session.blockSize,
    writers: WRITERS,
    blocksPerWriter: BLOCKS_PER_WRITER,
    signal: ac.signal,
    seed: 5,
    log,
    onError: () => 50,
  })
  await waitFor(
    'groups applied',
    async () => (((await applier.store.lastApplied())?.groupSeq ?? 0) >= 10 && log.counts().acked > 100) || undefined,
    { timeoutMs: 60_000 },
  )
  expect((await post('/v1/suspend')).state).toBe('suspended')
  await waitFor('blocks marked', async () => ((await mirror()).changes.pending >= 250 ? true : undefined), {
    timeoutMs: 60_000,
    intervalMs: 50,
  })
  // every block past the hot set once (32 per volume): marks the resync alone sends
  await writeColdBlocks({
    target,
    log,
    config,
    first: WRITERS * BLOCKS_PER_WRITER,
  })
  const resumed = await post('/v1/resume')
  expect(resumed.state).toBe('resyncing')
  const total = resumed.resync?.blocksTotal ?? 0
  await waitFor('the resync under way', async () => ((await mirror()).resync?.blocksSent ?? 0) >= 32 || undefined, {
    timeoutMs: 60_000,
    intervalMs: 20,
  })
  const atKill = await mirror()
  expect(atKill.state).toBe('resyncing')
  await primary.kill('SIGKILL')
  await primary.start()
  const recovered = await mirror()
  expect(recovered.state).toBe('resyncing')
  expect(recovered.epoch).toBe(resumed.epoch)
  expect(recovered.resync?.epoch).toBe(resumed.epoch)
  await waitFor('the resync to end', async () => ((await mirror()).state === 'duplex' ? true : undefined), {
    timeoutMs: 90_000,
    intervalMs: 100,
  })
  const acked = log.counts().acked
  await waitFor('writes after the resync', () => (log.counts().acked > acked + 100 ? true : undefined), {
    timeoutMs: 60_000,
    intervalMs: 20,
  })
  ac.abort()
  const result = await run
  const done = await mirror()
  const end = Math.max(log.lastAckedTime(), done.resync?.endTime ?? 0)
  await waitFor(
    'a consistent secondary past the last write',
    async () => {
      const obs = await observeImage(pool, config.applier.schema, config.session.name)
      return obs && obs.groupTime >= end && obs.image === 'consistent' ? true : undefined
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  )
  // writes in doubt at the kill are mirrored as the primary kept them: wait until the images agree
  const volumes = workloadVolumes(config).map((v) => v.name)
  let identical = 0
  await waitFor(
    'identical images',
    async () => {
      const { images } = await applier.store.readImages(volumes)
      identical = 0
      for (const v of volumes) if ((await session.primaryImage(v)).equals(images.get(v) ?? Buffer.alloc(0))) identical++
      return identical === volumes.length ? true : undefined
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  ).catch(() => undefined)
  const report = await watch.stop()
  const figures = {
    writesAcknowledged: result.acked,
    writesInDoubt: result.inDoubt,
    blocksMarked: total,
    blocksSentBeforeKill: atKill.resync?.blocksSent,
    blocksLeftAtRestart: recovered.resync?.blocksTotal,
    blocksSentAfterRestart: done.resync?.blocksSent,
    consistentObservations: report.consistent,
    inconsistentObservations: report.inconsistent,
    mixedStates: report.mixed,
    volumesIdentical: `${identical}/${volumes.length}`,
  }
  console.log(`resync figures (primary SIGKILLed mid-resync): ${JSON.stringify(figures)}`)
  expect(primary.restarts).toBe(1)
  expect(atKill.resync?.blocksSent ?? 0).toBeLessThan(total)
  expect(recovered.resync?.blocksTotal ?? 0).toBeGreaterThan(0)
  expect(recovered.resync?.blocksTotal ?? 0).toBeLessThan(total)
  expect(report.samples).toEqual([])
  expect(report.mixed).toBe(0)
  expect(report.inconsistent).toBeGreaterThan(0)
  expect(identical).toBe(volumes.length)
  expect(await primary.stop()).toBe(0)
}, 180_000)
