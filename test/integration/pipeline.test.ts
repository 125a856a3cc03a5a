/**
 * The promise, end to end on the real stack: a dependent-write workload
 * across three controllers goes through producer, mover and applier; at
 * every group the checker observes, the secondary holds exactly the
 * primary's writes up to that group's time (never Y without X); once
 * caught up every volume is byte-identical to the primary's file; a replay
 * from offset 0 rebuilds the same image, and a replay stopped at a past T
 * gives the image as of T. A snapshot taken while the workload runs reads,
 * after many more groups applied, as the primary's image as of its T (by
 * the checker, against the write log).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KAFKA_CLIENTS } from '../../lib/kafka/client/index.js'
import { createApplier, createSnapshots, replay, type Applier, type SnapshotInfo } from '../../applier/index.js'
import { silentLogger } from '../../lib/logger.js'
import { createPool, type Pool } from '../../lib/postgres.js'
import { waitFor } from '../../lib/retry.js'
import { createMover, type Mover } from '../../mover/index.js'
import { createPrimary, type Primary } from '../../producer/index.js'
import { checkObservation } from '../../workload/checker.js'
import { watchConsistency } from '../../workload/consistencyWatch.js'
import { runDependentWrites } from '../../workload/dependentWrites.js'
import { WriteLog } from '../../workload/writeLog.js'
import { appliedGroupHistory, observeSecondary } from '../../workload/secondaryObserver.js'
import { observationOfImages } from '../kit/imageObservation.js'
import { uniqueName } from '../kit/names.js'
import { createTestSession, workloadVolumes, type TestSession } from '../kit/session.js'

// the primary's producer on each Kafka client library (kafka.client)
describe.each(KAFKA_CLIENTS)('with the primary on %s', (client) => {
  let session: TestSession
  let primary: Primary
  let mover: Mover
  let applier: Applier
  let pool: Pool

  beforeAll(async () => {
    session = createTestSession({ controllers: 3, volumesPerController: 2, blocks: 128, extra: { kafka: { client } } })
    const { config } = session
    pool = createPool({ url: config.database.url, logger: silentLogger, max: 2 })
    primary = createPrimary({ config, logger: silentLogger })
    mover = createMover({ config, logger: silentLogger })
    applier = createApplier({ config, logger: silentLogger, pool })
    await primary.start()
    await Promise.all([mover.start(), applier.start()])
  })

  afterAll(async () => {
    await primary?.stop()
    await mover?.stop()
    await applier?.stop()
    await pool?.end()
    await session?.cleanup()
  })

  it('mirrors dependent writes across controllers with prefix consistency, and replays from offsets', async () => {
    const { config } = session
    const sessionName = config.session.name
    const log = new WriteLog()
    const watch = watchConsistency({ pool, schema: config.applier.schema, session: sessionName, log })
    const ac = new AbortController()
    const run = runDependentWrites(primary, {
      volumes: workloadVolumes(config),
      blockSize: config.session.blockSize,
      writers: 6,
      blocksPerWriter: 6,
      signal: ac.signal,
      seed: 42,
      log,
    })
    // run until enough groups with writes in them were observed, bounded in time
    let midpoint: { groupTime: number } | undefined
    const snapshots = createSnapshots({ pool, schema: config.applier.schema, session: sessionName })
    let snapshot: SnapshotInfo | undefined
    await waitFor(
      'groups to be applied under load',
      async () => {
        const obs = await observeSecondary(pool, config.applier.schema, sessionName)
        if (obs && obs.groupSeq >= 20 && midpoint === undefined && log.counts().acked > 100) {
          midpoint = { groupTime: obs.groupTime }
          snapshot = await snapshots.create({ name: 'mid-workload' })
        }
        // the watch checks a group each time it sees a new one: as many as the assertions below want
        const observed = watch.current().groupsObserved
        return obs && obs.groupSeq >= 60 && log.counts().acked > 400 && observed > 10 ? true : undefined
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    )
    ac.abort()
    const result = await run
    // caught up: the last acknowledged write is in an applied group
    const lastAcked = log.lastAckedTime()
    await waitFor(
      'the secondary to catch up',
      async () => ((await applier.store.lastApplied())?.groupTime ?? 0) >= lastAcked || undefined,
      { timeoutMs: 30_000 },
    )
    const report = await watch.stop()

    const volumes = workloadVolumes(config).map((v) => v.name)
    const { images } = await applier.store.readImages(volumes)
    let identical = 0
    for (const v of volumes) if ((await session.primaryImage(v)).equals(images.get(v) ?? Buffer.alloc(0))) identical++
    const history = await appliedGroupHistory(pool, config.applier.schema)
    const final = await observeSecondary(pool, config.applier.schema, sessionName)
    const lost = final ? checkObservation(log, final).length : log.counts().acked

    // replay from offset 0 into an empty schema: the same image
    const rebuilt = uniqueName('replay')
    session.extraSchemas.push(rebuilt)
    const full = await replay({ config, logger: silentLogger, schema: rebuilt, pool })
    const rebuiltStore = createApplier({ config, logger: silentLogger, pool, schema: rebuilt }).store
    const rebuiltImages = (await rebuiltStore.readImages(volumes)).images
    const rebuiltIdentical = volumes.filter((v) =>
      rebuiltImages.get(v)?.equals(images.get(v) ?? Buffer.alloc(0)),
    ).length

    // replay stopped at a past T: the primary's image as of T, by the checker
    const past = uniqueName('replay_t')
    session.extraSchemas.push(past)
    const pastT = midpoint?.groupTime ?? 0
    const partial = await replay({ config, logger: silentLogger, schema: past, pool, stopAtTime: pastT })
    const pastObs = await observeSecondary(pool, past, sessionName)
    const pastViolations = pastObs ? checkObservation(log, pastObs) : ['no group applied']

    // the snapshot, many groups later: the primary's image as of its T
    const snapshotImages = (await snapshots.readImages('mid-workload', volumes)).images
    const snapshotViolations = checkObservation(
      log,
      observationOfImages(snapshotImages, snapshot?.groupTime ?? 0, config.session.blockSize),
    )

    const figures = {
      snapshot: { groupSeq: snapshot?.groupSeq, violations: snapshotViolations.length },
      writesAcknowledged: result.acked,
      groupsApplied: history.groups,
      groupsObserved: report.groupsObserved,
      writesLost: lost,
      mixedStatesObserved: report.mixedStates,
      groupsAppliedTwiceOrSkipped: history.gaps + (history.lastSeq - history.groups),
      volumesIdentical: `${identical}/${volumes.length}`,
      replayFromZero: { groups: full.groups, volumesIdentical: `${rebuiltIdentical}/${volumes.length}` },
      replayToPastT: {
        stopAtTime: pastT,
        groups: partial.groups,
        lastGroupTime: partial.lastGroupTime,
        violations: pastViolations.length,
      },
    }
    console.log(`pipeline figures: ${JSON.stringify(figures)}`)

    expect(report.samples).toEqual([])
    expect(report.mixedStates).toBe(0)
    expect(report.groupsObserved).toBeGreaterThan(10)
    expect(result.acked).toBeGreaterThan(400)
    expect(lost).toBe(0)
    expect(history.gaps).toBe(0)
    expect(history.firstSeq).toBe(1)
    expect(history.lastSeq).toBe(history.groups)
    expect(identical).toBe(volumes.length)
    expect(rebuiltIdentical).toBe(volumes.length)
    expect(full.lastGroupSeq).toBeGreaterThanOrEqual(history.lastSeq)
    expect(pastT).toBeGreaterThan(0)
    expect(partial.lastGroupTime).toBeLessThanOrEqual(pastT)
    expect(partial.groups).toBeLessThan(full.groups)
    expect(pastViolations).toEqual([])
    expect(snapshot?.state).toBe('active')
    expect(history.lastSeq - (snapshot?.groupSeq ?? history.lastSeq)).toBeGreaterThanOrEqual(30)
    expect(snapshotViolations).toEqual([])
  }, 180_000)
})
