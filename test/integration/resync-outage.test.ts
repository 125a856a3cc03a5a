/**
 * A Kafka outage, end to end: the session's producer, mover and applier use
 * a PRIVATE broker this test starts on its own ports (the shared one is
 * never touched; the registry and PostgreSQL are the shared ones). During a
 * dependent-write workload the broker is killed (SIGKILL) and kept down for
 * 30 s. The primary suspends after resync.suspendAfterUnreachableMs; writes
 * go on, marked, and their p99 latency stays within the wait bound
 * (producer.sidefileWaitMs). When the broker is back the primary resumes by
 * itself and resyncs; the secondary is consistent whenever it says so, and
 * the images end byte-identical.
 */
import { rmSync } from 'node:fs'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createApplier, type Applier } from '../../applier/index.js'
import { loadConfig, type Config } from '../../lib/config.js'
import { silentLogger } from '../../lib/logger.js'
import { createPool, type Pool } from '../../lib/postgres.js'
import { waitFor } from '../../lib/retry.js'
import { createMover, type Mover } from '../../mover/index.js'
import { createPrimary, type Primary } from '../../producer/index.js'
import { kafkaService, startKafka } from '../../stack/kafka.js'
import { stackPaths, type StackPaths } from '../../stack/paths.js'
import { runningPid, stopService } from '../../stack/processes.js'
import { runDependentWrites } from '../../workload/dependentWrites.js'
import { WriteLog } from '../../workload/writeLog.js'
import { freePort } from '../kit/ports.js'
import { observeImage, percentile, watchResync } from '../kit/resyncWatch.js'
import { createTestSession, workloadVolumes, type TestSession } from '../kit/session.js'

const OUTAGE_MS = 30_000
const WAIT_BOUND_MS = 250

let brokerConfig: Config
let paths: StackPaths
let session: TestSession
let pool: Pool
let primary: Primary
let mover: Mover | undefined
let applier: Applier | undefined
let supervising = true
let supervisor: Promise<void> | undefined
const restarts = { mover: 0, applier: 0 }

beforeAll(async () => {
  brokerConfig = loadConfig({
    env: process.env,
    overrides: { stack: { kafkaPort: await freePort(), controllerPort: await freePort() } },
  })
  paths = stackPaths(brokerConfig)
  await startKafka(brokerConfig, paths, () => undefined)
  session = createTestSession({
    controllers: 3,
    volumesPerController: 2,
    blocks: 128,
    extra: {
      kafka: { brokers: brokerConfig.kafka.brokers },
      producer: { sidefileWaitMs: WAIT_BOUND_MS },
      resync: { suspendAfterUnreachableMs: 2000, probeMs: 500 },
      applier: { feedbackMs: 250 },
    },
  })
  pool = createPool({ url: session.config.database.url, logger: silentLogger, max: 3 })
  primary = createPrimary({ config: session.config, logger: silentLogger })
  await primary.start()
  // the primary registers the updates schema first: two clients creating one subject at once can race in the registry
  await waitFor('the primary connected', () => (primary.status().kafka.state === 'connected' ? true : undefined), {
    timeoutMs: 60_000,
  })
  // the pipeline's services run as under a supervisor: one that gives up while the broker is down is started again
  const startMover = async (): Promise<void> => {
    const m = createMover({ config: session.config, logger: silentLogger })
    await m.start()
    mover = m
  }
  const startApplier = async (): Promise<void> => {
    const a = createApplier({ config: session.config, logger: silentLogger, pool })
    await a.start()
    applier = a
  }
  // a broker that just started may not serve consumer groups yet (kafkajs then fails a seek): try again, as the supervisor would
  const retried = (start: () => Promise<void>): Promise<void> =>
    waitFor('a service to start on the new broker', () => start().then(() => true), {
      timeoutMs: 60_000,
      intervalMs: 1000,
    }).then(() => undefined)
  await retried(startMover)
  await retried(startApplier)
  supervisor = (async () => {
    while (supervising) {
      await new Promise((r) => setTimeout(r, 500))
      if (!supervising) break
      if (mover && ['halted', 'stopped'].includes(mover.status().state)) {
        await mover.stop().catch(() => undefined)
        if (
          await startMover().then(
            () => true,
            () => false,
          )
        )
          restarts.mover++
      }
      if (applier && ['halted', 'stopped'].includes(applier.status().state)) {
        await applier.stop().catch(() => undefined)
        if (
          await startApplier().then(
            () => true,
            () => false,
          )
        )
          restarts.applier++
      }
    }
  })()
}, 180_000)

afterAll(async () => {
  supervising = false
  await supervisor
  await primary?.stop()
  await mover?.stop()
  await applier?.stop()
  await pool?.end()
  await session?.cleanup().catch(() => undefined) // its topics were on the private broker, which cleanup asks the shared one about
  if (paths) {
    await stopService(kafkaService(paths))
    rmSync(paths.kafkaData, { recursive: true, force: true })
    rmSync(paths.kafkaConfig, { force: true })
  }
})

it('keeps writers within the wait bound through a 30 s broker outage, then resyncs to byte-identical images', async () => {
  const { config } = session
  const log = new WriteLog()
  const watch = watchResync({ pool, schema: config.applier.schema, session: config.session.name, log })
  const acks: { at: number; ms: number }[] = []
  const ac = new AbortController()
  const run = runDependentWrites(primary, {
    volumes: workloadVolumes(config),
    blockSize: config.session.blockSize,
    writers: 4,
    blocksPerWriter: 16,
    signal: ac.signal,
    seed: 3,
    log,
    onAck: (_rec, ms) => acks.push({ at: Date.now(), ms }),
  })
  await waitFor(
    'groups applied before the outage',
    async () => (((await applier?.store.lastApplied())?.groupSeq ?? 0) >= 10 && log.counts().acked > 100) || undefined,
    { timeoutMs: 60_000 },
  )

  const down = Date.now()
  process.kill(runningPid(kafkaService(paths)) as number, 'SIGKILL')
  await waitFor('the primary to suspend', () => (primary.status().mirror.state === 'suspended' ? true : undefined), {
    timeoutMs: 30_000,
    intervalMs: 50,
  })
  expect(primary.status().mirror.reason).toBe('kafka-unreachable')
  await new Promise((r) => setTimeout(r, Math.max(0, down + OUTAGE_MS - Date.now()))) // the outage lasts 30 s
  const marked = primary.status().mirror
  await startKafka(brokerConfig, paths, () => undefined)
  const up = Date.now()
  const during = acks.filter((a) => a.at >= down && a.at <= up).map((a) => a.ms)

  await waitFor('the resync to begin', () => (primary.status().mirror.state !== 'suspended' ? true : undefined), {
    timeoutMs: 60_000,
    intervalMs: 50,
  })
  await waitFor('the resync to end', () => (primary.status().mirror.state === 'duplex' ? true : undefined), {
    timeoutMs: 60_000,
    intervalMs: 50,
  })
  const acked = log.counts().acked
  await waitFor('writes after the resync', () => (log.counts().acked > acked + 100 ? true : undefined), {
    timeoutMs: 60_000,
    intervalMs: 20,
  })
  ac.abort()
  const result = await run
  await waitFor(
    'the sidefiles sent',
    () => (primary.status().controllers.every((c) => c.sidefile.entries === 0) ? true : undefined),
    { timeoutMs: 60_000, intervalMs: 50 },
  )
  const end = Math.max(log.lastAckedTime(), primary.status().mirror.resync?.endTime ?? 0)
  await waitFor(
    'a consistent secondary past the last write',
    async () => {
      const obs = await observeImage(pool, config.applier.schema, config.session.name)
      return obs && obs.groupTime >= end && obs.image === 'consistent' ? true : undefined
    },
    { timeoutMs: 90_000, intervalMs: 200 },
  )
  const report = await watch.stop()
  const volumes = workloadVolumes(config).map((v) => v.name)
  const { images } = await (applier as Applier).store.readImages(volumes)
  let identical = 0
  for (const v of volumes) if ((await session.primaryImage(v)).equals(images.get(v) ?? Buffer.alloc(0))) identical++
  const m = primary.status().mirror
  const changedBytes = (m.resync?.blocksTotal ?? 0) * config.session.blockSize
  const figures = {
    outageMs: up - down,
    writesAcknowledged: result.acked,
    writesDuringOutage: during.length,
    writesWhileSuspended: m.markedWrites,
    blocksMarked: m.resync?.blocksTotal,
    blocksResynced: m.resync?.blocksSent,
    bytesChanged: changedBytes,
    bytesSent: m.resync?.bytesSent,
    writerP50MsDuringOutage: Math.round(percentile(during, 50) * 100) / 100,
    writerP99MsDuringOutage: Math.round(percentile(during, 99) * 100) / 100,
    waitBoundMs: WAIT_BOUND_MS,
    serviceRestarts: restarts,
    consistentObservations: report.consistent,
    inconsistentObservations: report.inconsistent,
    mixedStates: report.mixed,
    volumesIdentical: `${identical}/${volumes.length}`,
  }
  console.log(`resync figures (30 s broker outage): ${JSON.stringify(figures)}`)
  expect(up - down).toBeGreaterThanOrEqual(OUTAGE_MS)
  expect(during.length).toBeGreaterThan(200)
  expect(percentile(during, 99)).toBeLessThan(WAIT_BOUND_MS)
  expect(marked.markedWrites).toBeGreaterThan(100)
  expect(m.resync?.blocksSent ?? 0).toBeGreaterThan(0)
  expect(m.resync?.bytesSent ?? 0).toBeLessThanOrEqual(1.05 * changedBytes)
  expect(report.samples).toEqual([])
  expect(report.mixed).toBe(0)
  expect(report.consistent).toBeGreaterThan(5)
  expect(identical).toBe(volumes.length)
}, 240_000)
