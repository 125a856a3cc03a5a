/**
 * One controller's primary loses Kafka while the other controller's primary
 * goes on (one primary process per controller, as in the sigstop fault
 * scenario): the suspended one marks its writes from S on, resumes by itself
 * once Kafka answers and sends a resync window BEGIN whose own time B is the
 * resume's tick, well after S. Meanwhile the other controller keeps the
 * consistency time moving, so a group can be cut at some T with S < T < B:
 * it lacks the marked writes up to T and must carry the BEGIN, which opens
 * the window as of S (schemas/resyncWindow.ts). The fault scenario met this
 * only when its pause happened to suspend the primary (seed 131240: three
 * mixed observations); here the outage is forced, three times, through a
 * Kafka client that refuses that primary's sends and probes on demand. And
 * the other controller's sends are held while the suspended one resumes (its
 * primary never suspends: resync.suspendAfterUnreachableMs 0 for it), so that
 * the mover reads the BEGIN while the other controller still covers a time
 * below B: the group in (S, B) is cut every time, not only by chance.
 *
 * Checked: the journal itself (every group whose time passes a BEGIN's S
 * comes with or after the group that carries it), every group the secondary
 * calls consistent while it runs (no mixed state), and byte-identical images.
 */
import type { Kafka } from 'kafkajs'
import { type KafkaClient, createKafkaClient } from '../../lib/kafka/index.js'
import { kafkajsOf } from '../../lib/kafka/client/kafkaClient.js'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createApplier, type Applier } from '../../applier/index.js'
import { scanTopic } from '../../lib/kafka/index.js'
import { silentLogger } from '../../lib/logger.js'
import { createPool, type Pool } from '../../lib/postgres.js'
import { waitFor } from '../../lib/retry.js'
import { createMover, type Mover } from '../../mover/index.js'
import { createPrimary, type Primary } from '../../producer/index.js'
import { createCodec } from '../../schemas/codec.js'
import { JOURNAL_SCHEMA, type JournalRecord } from '../../schemas/journal.js'
import { sessionTopics, valueSubject } from '../../schemas/topicNames.js'
import { runDependentWrites } from '../../workload/dependentWrites.js'
import { WriteLog } from '../../workload/writeLog.js'
import { uniqueName } from '../kit/names.js'
import { observeImage, watchResync } from '../kit/resyncWatch.js'
import { testKafka } from '../kit/servers.js'
import { createTestSession, workloadVolumes, type TestSession } from '../kit/session.js'
import { registryAt } from '../../schemas/registryClient.js'

const OUTAGES = 3
const OUTAGE_MS = 1500

let session: TestSession
let pool: Pool
const primaries: Primary[] = []
let mover: Mover
let applier: Applier
interface Gate {
  /** Sends and probes fail (KafkaClient out of reach). */
  down: boolean
  /** Sends wait for it (a slow link: nothing fails). */
  held?: Promise<void>
}
/** Controller 1's primary: out of reach while `down`. */
const cut: Gate = { down: false }
/** Controller 0's primary: its sends held while controller 1 resumes. */
const slow: Gate = { down: false }

/**
 * A Kafka client whose producers' sends and admins' connects wait while `gate.held` and fail while `gate.down`
 * (consumers pass through).
 */
function gatedKafka(client: KafkaClient, gate: Gate): KafkaClient {
  const real = kafkajsOf(client)
  const refused = (): Error => Object.assign(new Error('test: Kafka cut off for this primary'), { retriable: true })
  const gated = <T extends object>(inner: T, methods: readonly string[]): T =>
    new Proxy(inner, {
      get(target, prop) {
        const v = Reflect.get(target, prop, target) as unknown
        if (typeof v !== 'function') return v
        const fn = v as (...args: unknown[]) => unknown
        if (!methods.includes(String(prop))) return fn.bind(target)
        return async (...args: unknown[]) => {
          if (gate.held) await gate.held
          if (gate.down) throw refused()
          return fn.apply(target, args)
        }
      },
    })
  const kafkajs = new Proxy(real, {
    get(target, prop) {
      if (prop === 'producer')
        return (...args: Parameters<Kafka['producer']>) => gated(target.producer(...args), ['send', 'sendBatch'])
      if (prop === 'admin') return (...args: Parameters<Kafka['admin']>) => gated(target.admin(...args), ['connect'])
      const v = Reflect.get(target, prop, target) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
  })
  const { connection, clientId, logger } = client
  return createKafkaClient({ connection, clientId, logger, library: 'kafkajs', logs: 'none', kafkajs })
}

beforeAll(async () => {
  session = createTestSession({
    controllers: 2,
    volumesPerController: 2,
    blocks: 64,
    extra: {
      // the outages are made through the kafkajs client given to each primary: its producer must be on kafkajs
      kafka: { client: 'kafkajs' },
      producer: { sidefileWaitMs: 250 },
      resync: { suspendAfterUnreachableMs: 300, probeMs: 200 },
      applier: { feedbackMs: 250 },
    },
  })
  const { config } = session
  pool = createPool({ url: config.database.url, logger: silentLogger, max: 3 })
  // one primary per controller; the first registers the updates schema before the second starts (a registry race)
  const steady = { ...config, resync: { ...config.resync, suspendAfterUnreachableMs: 0 } }
  const kafka0 = gatedKafka(testKafka(uniqueName('slow')), slow)
  primaries.push(createPrimary({ config: steady, logger: silentLogger, controllerIds: [0], kafka: kafka0 }))
  await (primaries[0] as Primary).start()
  await waitFor(
    'controller 0 connected',
    () => (primaries[0]?.status().kafka.state === 'connected' ? true : undefined),
    {
      timeoutMs: 60_000,
    },
  )
  const kafka = gatedKafka(testKafka(uniqueName('gated')), cut)
  primaries.push(createPrimary({ config, logger: silentLogger, controllerIds: [1], kafka }))
  await (primaries[1] as Primary).start()
  await waitFor(
    'controller 1 connected',
    () => (primaries[1]?.status().kafka.state === 'connected' ? true : undefined),
    {
      timeoutMs: 60_000,
    },
  )
  mover = createMover({ config, logger: silentLogger })
  await mover.start()
  applier = createApplier({ config, logger: silentLogger, pool })
  await applier.start()
}, 180_000)

afterAll(async () => {
  cut.down = false
  slow.held = undefined
  for (const p of primaries) await p.stop().catch(() => undefined)
  await mover?.stop()
  await applier?.stop()
  await pool?.end()
  await session?.cleanup()
})

it('a group past one suspended controller S carries its BEGIN: never applied as consistent without the marked writes', async () => {
  const { config } = session
  const [p0, p1] = primaries as [Primary, Primary]
  const log = new WriteLog()
  const watch = watchResync({ pool, schema: config.applier.schema, session: config.session.name, log })
  const ac = new AbortController()
  const route = (volume: string): Primary => (volume.startsWith('c1') ? p1 : p0)
  const run = runDependentWrites(
    { write: (req) => route(req.volume).write(req) },
    {
      volumes: workloadVolumes(config),
      blockSize: config.session.blockSize,
      writers: 4,
      blocksPerWriter: 8,
      signal: ac.signal,
      seed: 7,
      log,
    },
  )
  await waitFor(
    'groups applied before the outages',
    async () => (((await applier.store.lastApplied())?.groupSeq ?? 0) >= 5 && log.counts().acked > 50) || undefined,
    { timeoutMs: 60_000 },
  )
  const suspensions: { S: number; marked: number }[] = []
  for (let i = 0; i < OUTAGES; i++) {
    cut.down = true
    await waitFor('controller 1 to suspend', () => (p1.status().mirror.state === 'suspended' ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 20,
    })
    expect(p1.status().mirror.reason).toBe('kafka-unreachable')
    expect(p0.status().mirror.state).toBe('duplex')
    await new Promise((r) => setTimeout(r, OUTAGE_MS))
    const before = p1.status().mirror
    const earlier = suspensions.reduce((n, s) => n + s.marked, 0)
    const S = before.consistentUntil ?? 0
    suspensions.push({ S, marked: before.markedWrites - earlier })
    // controller 0 stops reporting (its writes go on into its sidefile): when the BEGIN arrives, it covers a time
    // in (S, B), and so does the group the mover cuts then
    let release = (): void => undefined
    slow.held = new Promise<void>((r) => (release = r))
    await new Promise((r) => setTimeout(r, 100))
    cut.down = false
    await waitFor(
      'a group past S applied',
      async () =>
        ((await observeImage(pool, config.applier.schema, config.session.name))?.groupTime ?? 0) > S || undefined,
      { timeoutMs: 30_000, intervalMs: 20 },
    )
    await new Promise((r) => setTimeout(r, 200)) // the watcher looks at it
    slow.held = undefined
    release()
    await waitFor('controller 1 to resync', () => (p1.status().mirror.state === 'duplex' ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 20,
    })
    // writes go on in duplex before the next outage
    const acked = log.counts().acked
    await waitFor('writes after the resync', () => (log.counts().acked > acked + 30 ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 20,
    })
  }
  ac.abort()
  await run
  await waitFor(
    'the sidefiles sent',
    () => (primaries.every((p) => p.status().controllers.every((c) => c.sidefile.entries === 0)) ? true : undefined),
    { timeoutMs: 60_000, intervalMs: 50 },
  )
  const end = Math.max(log.lastAckedTime(), p1.status().mirror.resync?.endTime ?? 0)
  await waitFor(
    'a consistent secondary past the last write',
    async () => {
      const obs = await observeImage(pool, config.applier.schema, config.session.name)
      return obs && obs.groupTime >= end && obs.image === 'consistent' ? true : undefined
    },
    { timeoutMs: 90_000, intervalMs: 100 },
  )
  const report = await watch.stop()

  // the journal: each BEGIN of controller 1 comes with the first group whose time passes its S, or earlier
  const groups = await readJournal(sessionTopics(config.session.name).journal, config.schemaRegistry.url)
  const begins = groups.flatMap((g, gi) =>
    (g.windows ?? []).filter((w) => w.event === 'BEGIN' && w.controller === 1).map((w) => ({ gi, w })),
  )
  expect(begins.map((b) => b.w.consistentUntil)).toEqual(suspensions.map((s) => s.S))
  const early = begins.flatMap(({ gi, w }) =>
    groups
      .slice(0, gi)
      .filter((g) => g.groupTime > w.consistentUntil)
      .map((g) => `group ${g.groupSeq} at ${g.groupTime} passes S ${w.consistentUntil} before the BEGIN at ${w.time}`),
  )
  const volumes = workloadVolumes(config).map((v) => v.name)
  const { images } = await applier.store.readImages(volumes)
  let identical = 0
  for (const v of volumes) if ((await session.primaryImage(v)).equals(images.get(v) ?? Buffer.alloc(0))) identical++
  console.log(
    `one controller suspended: ${JSON.stringify({
      suspensions,
      beginsCarriedBelowTheirTime: begins.filter(({ gi, w }) => (groups[gi]?.groupTime ?? 0) < w.time).length,
      consistentObservations: report.consistent,
      inconsistentObservations: report.inconsistent,
      mixedStates: report.mixed,
      volumesIdentical: `${identical}/${volumes.length}`,
    })}`,
  )
  expect(suspensions.every((s) => s.marked > 0)).toBe(true)
  expect(early).toEqual([])
  expect(report.samples).toEqual([])
  expect(report.mixed).toBe(0)
  expect(report.inconsistent).toBeGreaterThan(0)
  expect(identical).toBe(volumes.length)
}, 240_000)

/** The committed journal's groups: the last part of each (it carries the windows; every part has the time). */
async function readJournal(
  topic: string,
  registryUrl: string,
): Promise<Pick<JournalRecord, 'groupSeq' | 'groupTime' | 'windows'>[]> {
  const codec = await createCodec<JournalRecord>({
    registry: registryAt(registryUrl),
    subject: valueSubject(topic),
    schema: JOURNAL_SCHEMA,
  })
  const records: JournalRecord[] = []
  await scanTopic({
    kafka: testKafka(),
    topic,
    groupPrefix: uniqueName('journal-read'),
    logger: silentLogger,
    timeoutMs: 60_000,
    onMessage: async (m) => void records.push(await codec.decode(m.value as Buffer)),
  })
  return records.filter((r) => r.part === r.parts - 1)
}
