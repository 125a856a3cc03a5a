/**
 * The updates topic, then the journal topic, deleted under a running session
 * (shared stack; producer, mover and applier in this process; `xrc resync`
 * run as a child process).
 * Writes that were in the topic and not yet applied are gone from Kafka; the
 * primary's change generations still name their blocks (the secondary's
 * applied consistency time, polled from its control row, discards only what
 * it holds). The primary suspends when its sends fail; the operator stops
 * the mover and the applier and runs `xrc resync`, which copies only the
 * blocks the bitmaps name, not whole volumes; with the mover and the applier
 * started again the images end byte-identical, and the secondary is
 * consistent whenever it says so.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createApplier, type Applier } from '../../applier/index.js'
import { silentLogger } from '../../lib/logger.js'
import { createPool, type Pool } from '../../lib/postgres.js'
import { waitFor } from '../../lib/retry.js'
import { createMover, type Mover } from '../../mover/index.js'
import { createPrimary, startHttpApi, type HttpApi, type Primary } from '../../producer/index.js'
import { sessionTopics } from '../../schemas/topicNames.js'
import { runDependentWrites } from '../../workload/dependentWrites.js'
import { WriteLog } from '../../workload/writeLog.js'
import { lastJsonLine, runCli } from '../kit/cli.js'
import { observeImage, watchResync } from '../kit/resyncWatch.js'
import { testKafka } from '../kit/servers.js'
import { writeConfigFile } from '../kit/services.js'
import { createTestSession, workloadVolumes, type TestSession } from '../kit/session.js'

let session: TestSession
let pool: Pool
let primary: Primary
let api: HttpApi
let mover: Mover
let applier: Applier
/** One log for both recoveries: the checker must know the earlier one's writes still on the volumes, and ids stay unique. */
const log = new WriteLog()

beforeAll(async () => {
  session = createTestSession({
    controllers: 3,
    volumesPerController: 2,
    blocks: 256,
    extra: { resync: { suspendAfterUnreachableMs: 1500, probeMs: 300 }, applier: { feedbackMs: 200 } },
  })
  pool = createPool({ url: session.config.database.url, logger: silentLogger, max: 3 })
  primary = createPrimary({ config: session.config, logger: silentLogger })
  await primary.start()
  // port 0: the API takes a free port and says which (api.url)
  api = await startHttpApi({ primary, port: 0, logger: silentLogger })
  await waitFor('the primary connected', () => (primary.status().kafka.state === 'connected' ? true : undefined), {
    timeoutMs: 30_000,
  })
  mover = createMover({ config: session.config, logger: silentLogger })
  applier = createApplier({ config: session.config, logger: silentLogger, pool })
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

/**
 * The `lost` topic deleted under the running session; then what the operator does: stop the mover and the
 * applier, run `xrc resync`, start them again.
 */
async function recoverLost(lost: 'updates' | 'journal'): Promise<void> {
  const { config } = session
  const startGroup = (await applier.store.lastApplied())?.groupSeq ?? 0
  const ackedBefore = log.counts().acked
  const watch = watchResync({ pool, schema: config.applier.schema, session: config.session.name, log })
  const ac = new AbortController()
  // 4 writers on hot sets of 16 blocks: at most a quarter of each volume ever changes
  const run = runDependentWrites(primary, {
    volumes: workloadVolumes(config),
    blockSize: config.session.blockSize,
    writers: 4,
    blocksPerWriter: 16,
    signal: ac.signal,
    seed: 9,
    log,
  })
  await waitFor(
    'groups applied and confirmed to the primary',
    async () =>
      (((await applier.store.lastApplied())?.groupSeq ?? 0) >= startGroup + 15 &&
        log.counts().acked > ackedBefore + 300 &&
        primary.status().mirror.confirmedTime !== undefined) ||
      undefined,
    { timeoutMs: 60_000 },
  )
  const admin = testKafka().admin()
  await admin.connect()
  await admin.deleteTopics({ topics: [sessionTopics(config.session.name)[lost]] })
  await admin.disconnect()
  // without its updates topic the primary's sends fail and it suspends; without the journal it goes on sending
  if (lost === 'updates')
    await waitFor('the primary to suspend', () => (primary.status().mirror.state === 'suspended' ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 50,
    })
  // the operator stops what the loss broke
  await mover.stop()
  await applier.stop()

  const r = await runCli(
    ['--config', writeConfigFile(session.dataDir, session.settings), 'resync', '--primary', api.url, '--json'],
    { timeoutMs: 120_000 },
  )
  expect(r.code, r.stderr).toBe(0)
  const summary = lastJsonLine<{
    blocksMarked: number
    volumeBlocks: number
    blocksResynced: number
    bytesSent: number
    secondaryGroup: number
  }>(r)
  expect(primary.status().mirror.state).toBe('duplex')
  // rebased: no group applied, the image it keeps marked inconsistent until the resync is applied
  const rebased = await pool.query<{ state: string; group_seq: bigint }>(
    `SELECT i.state, c.group_seq FROM "${config.applier.schema}".resync_image i, "${config.applier.schema}".control c`,
  )
  expect(rebased.rows[0]).toEqual({ state: 'inconsistent', group_seq: 0n })
  mover = createMover({ config, logger: silentLogger })
  applier = createApplier({ config, logger: silentLogger, pool })
  // one after the other: two clients registering one subject at once can race in the registry
  await mover.start()
  await applier.start()
  const acked = log.counts().acked
  await waitFor('writes after the resync', () => (log.counts().acked > acked + 200 ? true : undefined), {
    timeoutMs: 60_000,
    intervalMs: 20,
  })
  ac.abort()
  const result = await run
  const end = Math.max(log.lastAckedTime(), primary.status().mirror.resync?.endTime ?? 0)
  await waitFor(
    'a consistent secondary past the last write',
    async () => {
      const obs = await observeImage(pool, config.applier.schema, config.session.name)
      return obs && obs.groupTime >= end && obs.image === 'consistent' ? true : undefined
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  )
  const report = await watch.stop()
  const volumes = workloadVolumes(config).map((v) => v.name)
  const { images } = await applier.store.readImages(volumes)
  let identical = 0
  for (const v of volumes) if ((await session.primaryImage(v)).equals(images.get(v) ?? Buffer.alloc(0))) identical++
  const figures = {
    writesAcknowledged: result.acked,
    writesWhileSuspended: primary.status().mirror.markedWrites,
    blocksCopied: summary.blocksMarked,
    volumeBlocks: summary.volumeBlocks,
    blocksResynced: summary.blocksResynced,
    bytesSent: summary.bytesSent,
    secondaryRebasedFromGroup: summary.secondaryGroup,
    consistentObservations: report.consistent,
    inconsistentObservations: report.inconsistent,
    mixedStates: report.mixed,
    volumesIdentical: `${identical}/${volumes.length}`,
  }
  console.log(`resync figures (${lost} topic deleted): ${JSON.stringify(figures)}`)
  expect(summary.blocksMarked).toBeGreaterThan(0)
  // only blocks the bitmaps name: the workload never wrote more than a quarter of the volumes
  expect(summary.blocksMarked).toBeLessThanOrEqual(summary.volumeBlocks / 4)
  expect(summary.secondaryGroup).toBeGreaterThanOrEqual(15)
  expect(report.samples).toEqual([])
  expect(report.mixed).toBe(0)
  expect(identical).toBe(volumes.length)
}

it(
  'recovers a deleted updates topic by copying only the blocks the change bitmaps name',
  () => recoverLost('updates'),
  240_000,
)

it(
  'recovers a deleted journal topic the same way, on the same session afterwards',
  () => recoverLost('journal'),
  240_000,
)
