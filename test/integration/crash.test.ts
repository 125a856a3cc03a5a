/**
 * Crashes: the producer, the mover and the applier run as real child
 * processes (`xrc primary|mover|applier`) and are killed with SIGKILL at
 * random points of a dependent-write workload, then restarted. Afterwards
 * no group was applied twice, none was skipped, no acknowledged write was
 * lost, no observed group was a mixed state, and the images are identical.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KAFKA_CLIENTS } from '../../lib/kafka/client/index.js'
import { errorMessage } from '../../lib/errors.js'
import { silentLogger } from '../../lib/logger.js'
import { createPool, type Pool } from '../../lib/postgres.js'
import { waitFor } from '../../lib/retry.js'
import { createBlockStore } from '../../applier/index.js'
import { checkObservation } from '../../workload/checker.js'
import { watchConsistency } from '../../workload/consistencyWatch.js'
import { runDependentWrites } from '../../workload/dependentWrites.js'
import { httpWriteTarget } from '../../workload/httpTarget.js'
import { appliedGroupHistory, observeSecondary } from '../../workload/secondaryObserver.js'
import { WriteLog } from '../../workload/writeLog.js'
import { freePort } from '../kit/ports.js'
import { serviceChild, writeConfigFile, type ServiceChild } from '../kit/services.js'
import { createTestSession, workloadVolumes, type TestSession } from '../kit/session.js'

// the primary's producer on each Kafka client library (kafka.client)
describe.each(KAFKA_CLIENTS)('with the primary on %s', (client) => {
  let session: TestSession
  let pool: Pool
  let services: ServiceChild[] = []

  beforeAll(async () => {
    const apiPort = await freePort()
    session = createTestSession({
      controllers: 3,
      volumesPerController: 2,
      blocks: 64,
      extra: { producer: { apiPort }, kafka: { client } },
    })
    pool = createPool({ url: session.config.database.url, logger: silentLogger, max: 2 })
  })

  afterAll(async () => {
    for (const s of services) await s.kill('SIGKILL')
    await pool?.end()
    await session?.cleanup()
  })

  function rng(seed: number): () => number {
    let s = seed >>> 0 || 1
    return () => {
      s ^= s << 13
      s ^= s >>> 17
      s ^= s << 5
      return (s >>> 0) / 0x100000000
    }
  }

  it('survives SIGKILL of each service at random points with nothing lost, repeated or mixed', async () => {
    const { config } = session
    const configFile = writeConfigFile(session.dataDir, session.settings)
    const make = (service: 'primary' | 'mover' | 'applier'): ServiceChild =>
      serviceChild({ service, configFile, dir: session.dataDir })
    const primary = make('primary')
    const mover = make('mover')
    const applier = make('applier')
    services = [primary, mover, applier]
    await primary.start()
    await Promise.all([mover.start(), applier.start()])
    const apiUrl = (): string => String(primary.announced.api)

    const seed = Date.now() % 100_000
    const random = rng(seed)
    const log = new WriteLog()
    const watch = watchConsistency({ pool, schema: config.applier.schema, session: config.session.name, log })
    const ac = new AbortController()
    const run = runDependentWrites(httpWriteTarget(apiUrl, 5000), {
      volumes: workloadVolumes(config),
      blockSize: config.session.blockSize,
      writers: 4,
      blocksPerWriter: 4,
      signal: ac.signal,
      seed,
      log,
      onError: () => 50,
    })

    const kills: string[] = []
    const order = [primary, mover, applier, primary, mover, applier]
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1))
      ;[order[i], order[j]] = [order[j] as ServiceChild, order[i] as ServiceChild]
    }
    for (const victim of order) {
      const ackedBefore = log.counts().acked
      // let the pipeline make progress between faults
      await waitFor(
        'writes between kills',
        () => (log.counts().acked > ackedBefore + 50 + Math.floor(random() * 150) ? true : undefined),
        { timeoutMs: 60_000, intervalMs: 10 },
      )
      await victim.kill('SIGKILL')
      kills.push(victim.name)
      await new Promise((r) => setTimeout(r, Math.floor(random() * 300)))
      await victim.start()
    }
    const ackedAfterKills = log.counts().acked
    await waitFor(
      'writes after the last restart',
      () => (log.counts().acked > ackedAfterKills + 100 ? true : undefined),
      { timeoutMs: 60_000, intervalMs: 10 },
    )
    ac.abort()
    const result = await run

    const store = createBlockStore({
      pool,
      schema: config.applier.schema,
      session: config.session.name,
      blockSize: config.session.blockSize,
      volumes: workloadVolumes(config),
    })
    const lastAcked = log.lastAckedTime()
    const appliedTime = async (): Promise<number> => (await store.lastApplied())?.groupTime ?? 0
    const appliedAtStart = await appliedTime()
    await waitFor('the secondary to catch up', async () => (await appliedTime()) >= lastAcked || undefined, {
      timeoutMs: 60_000,
      intervalMs: 100,
    }).catch(async (err: unknown) => {
      // whether the applier stood still or only fell short says where to look
      const now = await appliedTime()
      throw new Error(
        `${errorMessage(err)}: the secondary's T ${now} (${appliedAtStart} when the wait began), ` +
          `the last acknowledged write ${lastAcked}; kills ${kills.join(',')}`,
      )
    })
    // in-doubt writes the primary kept are mirrored too: wait until the images agree
    const volumes = workloadVolumes(config).map((v) => v.name)
    let identical = 0
    await waitFor(
      'identical images',
      async () => {
        const { images } = await store.readImages(volumes)
        identical = 0
        for (const v of volumes)
          if ((await session.primaryImage(v)).equals(images.get(v) ?? Buffer.alloc(0))) identical++
        return identical === volumes.length ? true : undefined
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    ).catch(() => undefined)
    const report = await watch.stop()
    const history = await appliedGroupHistory(pool, config.applier.schema)
    const final = await observeSecondary(pool, config.applier.schema, config.session.name)
    const lost = final ? checkObservation(log, final).length : -1

    const figures = {
      seed,
      kills: kills.join(','),
      killsSurvived: kills.length,
      writesAcknowledged: result.acked,
      writesInDoubt: result.inDoubt,
      writesRefused: result.refused,
      groupsApplied: history.groups,
      groupsObserved: report.groupsObserved,
      writesLost: lost,
      mixedStatesObserved: report.mixedStates,
      groupsAppliedTwiceOrSkipped: history.gaps + (history.lastSeq - history.groups),
      volumesIdentical: `${identical}/${volumes.length}`,
    }
    console.log(`crash figures: ${JSON.stringify(figures)}`)
    for (const s of services) expect(await s.stop(), `${s.name} exits cleanly on SIGTERM (log: ${s.logFile})`).toBe(0)
    expect(report.samples).toEqual([])
    expect(report.mixedStates).toBe(0)
    expect(lost).toBe(0)
    expect(history.gaps).toBe(0)
    expect(history.firstSeq).toBe(1)
    expect(history.lastSeq).toBe(history.groups)
    expect(history.timeRegressions).toBe(0)
    expect(identical).toBe(volumes.length)
    expect(kills).toHaveLength(6)
  }, 300_000)
})
