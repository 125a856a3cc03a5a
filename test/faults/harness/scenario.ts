/**
 * One run of a fault scenario, as Jepsen and Ceph's RBD-mirror tests do it:
 * real processes (`xrc primary|mover|applier`) on real servers, a
 * dependent-write workload through the primary's HTTP API, the fault
 * injected at a chosen or random moment, recovery, then the checks: prefix
 * consistency at every group observed while it ran, no acknowledged write
 * lost once caught up, no group applied twice, skipped or out of order (in
 * the applied history and in the journal itself), byte-identical volumes.
 *
 * Scenario code only injects and recovers; failed expectations are recorded
 * (`ctx.check`), not thrown, so the soak can count them and go on.
 */
import { cpSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import type { KafkaClientName } from '../../../lib/kafka/client/index.js'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { KafkaClient } from '../../../lib/kafka/index.js'
import { createKafkaClient } from '../../../lib/kafka/index.js'
import { silentLogger } from '../../../lib/logger.js'
import { createPool, type Pool } from '../../../lib/postgres.js'
import { waitFor } from '../../../lib/retry.js'
import { readDeadLetters, summarizeDeadLetters } from '../../../mover/index.js'
import { sessionTopics } from '../../../schemas/topicNames.js'
import { checkObservation } from '../../../workload/checker.js'
import { runDependentWrites, type WriteTarget } from '../../../workload/dependentWrites.js'
import { httpWriteTarget } from '../../../workload/httpTarget.js'
import { appliedGroupHistory, observeSecondary } from '../../../workload/secondaryObserver.js'
import { WriteLog } from '../../../workload/writeLog.js'
import { logDigest } from '../../kit/logDigest.js'
import { uniqueName } from '../../kit/names.js'
import { observeImage, watchResync } from '../../kit/resyncWatch.js'
import { freePort } from '../../kit/ports.js'
import { serviceChild, writeConfigFile, type ServiceChild } from '../../kit/services.js'
import type { StackInfo } from '../../kit/stackInfo.js'
import { createFaultSession, faultVolumes, type FaultSession } from './faultSession.js'
import type { ScenarioFigures } from './figures.js'
import { checkJournal, type JournalReport } from './journalCheck.js'

/** The services of a run; a scenario may replace one (a second mover). */
export interface Services {
  /** One primary, or one per controller (index = controller id). */
  primaries: ServiceChild[]
  mover: ServiceChild
  applier: ServiceChild
}

export interface ScenarioContext {
  seed: number
  random: () => number
  session: FaultSession
  services: Services
  /** Kafka of the session (for reading its topics). */
  kafka: KafkaClient
  /** The secondary's database (not through any proxy). */
  pool: Pool
  log: WriteLog
  /** Counts a fault injected. */
  fault(what: string): void
  /** Records a failed expectation unless `ok`. */
  check(ok: boolean, what: string): void
  note(key: string, value: unknown): void
  /** Waits until `more` writes were acknowledged after the call. */
  moreAcks(more: number, timeoutMs?: number): Promise<void>
  /** A new child of `service` on the run's config file (a second mover, say). */
  child(service: 'primary' | 'mover' | 'applier', name: string, args?: string[]): ServiceChild
}

/** What a scenario sets up before its session: private servers, a proxy, settings. */
export interface Prepared {
  /** Servers that replace the shared ones for this run (the suite reads and cleans up there too). */
  servers?: Partial<StackInfo>
  /** Settings over the session defaults (mover.transactionTimeoutMs, database.url of the services, ...). */
  settings?: Record<string, unknown>
  /** Removes what prepare made; after the session's cleanup. */
  teardown?: () => Promise<void>
}

export interface Scenario {
  name: string
  /** One primary process per controller (`xrc primary --controllers <id>`). */
  primaryPerController?: boolean
  prepare?: (shared: StackInfo) => Promise<Prepared>
  /** Environment of each service's first start: how a fault point is armed. */
  armed?: (random: () => number) => Partial<Record<'primary' | 'mover' | 'applier', Record<string, string>>>
  /** Injects the fault(s) once the workload runs, and recovers. */
  inject(ctx: ScenarioContext): Promise<void>
  /** Checks after the services stopped (the journal is whole then). */
  afterRun?: (ctx: ScenarioContext, journal: JournalReport) => Promise<void>
}

/**
 * `scenario` with every service on the Kafka client library `client` (kafka.client: the producer and the readers of
 * the hot path), its name saying so.
 */
export function onClient(scenario: Scenario, client: KafkaClientName): Scenario {
  return {
    ...scenario,
    name: `${scenario.name} (${client})`,
    async prepare(shared) {
      const prepared = (await scenario.prepare?.(shared)) ?? {}
      const settings = prepared.settings ?? {}
      return { ...prepared, settings: { ...settings, kafka: { ...(settings.kafka as object | undefined), client } } }
    },
  }
}

/** A seeded xorshift generator: a run is reproducible from its seed as far as timing allows. */
export function seeded(seed: number): () => number {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    return (s >>> 0) / 0x100000000
  }
}

/** Whether a process is stopped (SIGSTOP): state T in /proc/<pid>/stat. */
export function isStopped(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T')
  } catch {
    return false
  }
}

/** Whether a child's log has a line matching `pattern`. */
export function logHas(svc: ServiceChild, pattern: RegExp): boolean {
  try {
    return pattern.test(readFileSync(svc.logFile, 'utf8'))
  } catch {
    return false
  }
}

/** A counter or gauge of a service's /metrics (summed over labels), or undefined when it does not answer. */
export async function metricOf(svc: ServiceChild, name: string): Promise<number | undefined> {
  const url = svc.announced.metrics
  if (typeof url !== 'string') return undefined
  const text = await fetch(url, { signal: AbortSignal.timeout(3000) }).then(
    (r) => r.text(),
    () => undefined,
  )
  if (text === undefined) return undefined
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0)
}

/** How long one run may take before it is failed and its processes killed (under the fault tests' 300 s timeout). */
const RUN_BUDGET_MS = 270_000

export async function runScenario(scenario: Scenario, shared: StackInfo, seed: number): Promise<ScenarioFigures> {
  const prepared = (await scenario.prepare?.(shared)) ?? {}
  try {
    return await runPrepared(scenario, { ...shared, ...prepared.servers }, prepared.settings ?? {}, seed)
  } finally {
    await prepared.teardown?.()
  }
}

async function runPrepared(
  scenario: Scenario,
  servers: StackInfo,
  extra: Record<string, unknown>,
  seed: number,
): Promise<ScenarioFigures> {
  const began = Date.now()
  const random = seeded(seed)
  const failures: string[] = []
  const notes: Record<string, unknown> = {}
  let faults = 0
  const apiPort = await freePort()
  const session = createFaultSession(servers, {
    controllers: 3,
    volumesPerController: 2,
    blocks: 64,
    extra: { ...extra, producer: { apiPort, ...(extra.producer as object | undefined) } },
  })
  const { config } = session
  const configFile = writeConfigFile(session.dataDir, session.settings)
  const child = (service: 'primary' | 'mover' | 'applier', name: string, args: string[] = []): ServiceChild =>
    serviceChild({ service, configFile, dir: session.dataDir, name, args })
  const controllerIds = config.session.controllers.map((c) => c.id)
  const ports = scenario.primaryPerController ? await Promise.all(controllerIds.map(() => freePort())) : []
  const services: Services = {
    primaries: scenario.primaryPerController
      ? controllerIds.map((id, i) =>
          child('primary', `primary-${id}`, ['--controllers', String(id), '--api-port', String(ports[i])]),
        )
      : [child('primary', 'primary')],
    mover: child('mover', 'mover'),
    applier: child('applier', 'applier'),
  }
  const kafka = createKafkaClient({
    connection: { brokers: servers.kafkaBrokers },
    clientId: uniqueName('fault'),
    logger: silentLogger,
    logs: 'none',
  })
  const pool = createPool({ url: servers.databaseUrl, logger: silentLogger, max: 3 })
  const log = new WriteLog()
  const armed = scenario.armed?.(random) ?? {}
  const all = (): ServiceChild[] => [...services.primaries, services.mover, services.applier]
  let overtime: NodeJS.Timeout | undefined
  // a run stuck past its budget fails, and its processes are killed below, rather than outliving a test's timeout
  const budget = new Promise<never>((_resolve, reject) => {
    overtime = setTimeout(() => reject(new Error(`the run took longer than ${RUN_BUDGET_MS / 1000} s`)), RUN_BUDGET_MS)
  })
  const run = async (): Promise<ScenarioFigures> => {
    for (const p of services.primaries) await p.start(armed.primary ? { env: armed.primary } : {})
    await Promise.all([
      services.mover.start(armed.mover ? { env: armed.mover } : {}),
      services.applier.start(armed.applier ? { env: armed.applier } : {}),
    ])

    const target = routedTarget(services, config.session.controllers.length)
    // observations the secondary itself calls inconsistent (a resync after a suspension is being applied) are counted, not checked
    const watch = watchResync({ pool, schema: config.applier.schema, session: config.session.name, log })
    const stopWrites = new AbortController()
    const workload = runDependentWrites(target, {
      volumes: faultVolumes(config),
      blockSize: config.session.blockSize,
      writers: 4,
      blocksPerWriter: 4,
      signal: stopWrites.signal,
      seed,
      log,
      onError: () => 50,
    })
    const moreAcks = async (more: number, timeoutMs = 90_000): Promise<void> => {
      const from = log.counts().acked
      await waitFor(`${more} more acknowledged writes`, () => (log.counts().acked >= from + more ? true : undefined), {
        timeoutMs,
        intervalMs: 10,
      })
    }
    const ctx: ScenarioContext = {
      seed,
      random,
      session,
      services,
      kafka,
      pool,
      log,
      fault: (what) => {
        faults++
        notes[`fault${faults}`] = what
      },
      check: (ok, what) => void (ok || failures.push(what)),
      note: (key, value) => void (notes[key] = value),
      moreAcks,
      child,
    }
    try {
      // the fault lands on a pipeline that runs (groups flow to the secondary, writes go on), or as soon as an armed fault point fired
      const fired = (): boolean => all().some((svc) => svc.exited() || isStopped(svc.pid))
      const warm = log.counts().acked + 30 + Math.floor(random() * 60)
      await waitFor(
        'the pipeline to run',
        async () =>
          fired() ||
          (log.counts().acked >= warm &&
            ((await observeSecondary(pool, config.applier.schema, config.session.name))?.groupSeq ?? 0) >= 3) ||
          undefined,
        { timeoutMs: 90_000, intervalMs: 50 },
      )
      await scenario.inject(ctx)
      await moreAcks(50)
    } finally {
      stopWrites.abort()
    }
    const result = await workload

    // caught up: the secondary reaches the last acknowledged write, and in-doubt writes the primary kept are mirrored too
    const lastAcked = log.lastAckedTime()
    const caughtUp = await waitFor(
      'the secondary to catch up',
      async () =>
        ((await observeSecondary(pool, config.applier.schema, config.session.name))?.groupTime ?? 0) >= lastAcked ||
        undefined,
      { timeoutMs: 180_000, intervalMs: 100 },
    ).catch((err: unknown) => {
      failures.push(`secondary did not catch up: ${(err as Error).message}`)
      return false
    })
    // and past the end of a resync the fault set off: the secondary holds it whole only once it applies a group at or
    // after the resync's end, which the running primary's heartbeats bring about (stopping it 57 ms after the end,
    // before such a group was cut, left the secondary inconsistent); the final check below names a miss
    if (caughtUp === true)
      await waitFor(
        'the secondary to call itself consistent',
        async () =>
          (await observeImage(pool, config.applier.schema, config.session.name))?.image === 'consistent' || undefined,
        { timeoutMs: 60_000, intervalMs: 200 },
      ).catch(() => undefined)
    const volumes = faultVolumes(config).map((v) => v.name)
    let identical = 0
    if (caughtUp === true) {
      await waitFor(
        'identical images',
        async () => {
          identical = 0
          for (const v of volumes) {
            const secondary = await readSecondaryImage(pool, config.applier.schema, v, config.session.blockSize, 64)
            if ((await session.primaryImage(v)).equals(secondary)) identical++
          }
          return identical === volumes.length ? true : undefined
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      ).catch(() => failures.push(`volumes not identical: ${identical}/${volumes.length}`))
    }
    const report = await watch.stop()
    const stop = async (s: ServiceChild): Promise<void> => {
      if (s.exited()) return
      const code = await Promise.race([s.stop(), new Promise<'hung'>((r) => setTimeout(() => r('hung'), 30_000))])
      if (code === 'hung') await s.kill('SIGKILL')
      if (code !== 0)
        failures.push(
          `${s.name} ${code === 'hung' ? 'did not stop within 30 s of SIGTERM' : `exited ${code} on SIGTERM`} (log: ${s.logFile})`,
        )
    }
    // the journal is final once the mover stopped; the applier must then apply every group of it, none skipped
    for (const s of [...services.primaries, services.mover]) await stop(s)
    const journal = await checkJournal(
      kafka,
      sessionTopics(config.session.name).journal,
      servers.registryUrl,
      config.session.blockSize,
    )
    await waitFor(
      'the applier to apply the whole journal',
      async () =>
        (await appliedGroupHistory(pool, config.applier.schema)).groups >= journal.groups ? true : undefined,
      { timeoutMs: 60_000, intervalMs: 100 },
    ).catch(() => undefined)
    await stop(services.applier)
    const history = await appliedGroupHistory(pool, config.applier.schema)
    const final = await observeImage(pool, config.applier.schema, config.session.name)
    if (final?.image !== 'consistent') failures.push(`the caught-up secondary calls itself ${final?.image ?? 'empty'}`)
    const lost = final ? checkObservation(log, final).length : result.acked
    notes.inconsistentObservations = report.inconsistent
    const dead = summarizeDeadLetters(
      await readDeadLetters({
        kafka,
        topic: sessionTopics(config.session.name).deadLetter,
        logger: silentLogger,
        groupPrefix: uniqueName('dlq-check'),
      }),
    )
    notes.journalGroups = journal.groups
    await scenario.afterRun?.(ctx, journal)

    const figures: ScenarioFigures = {
      scenario: scenario.name,
      seed,
      faultsInjected: faults,
      faultsSurvived: 0,
      writesAcknowledged: result.acked,
      writesInDoubt: result.inDoubt,
      writesLost: lost,
      groupsApplied: history.groups,
      groupsAppliedTwice:
        journal.journaledTwice + (history.lastSeq - history.firstSeq + 1 - history.groups < 0 ? 1 : 0),
      outOfOrder:
        history.gaps +
        history.timeRegressions +
        (history.groups > 0 && history.firstSeq !== 1 ? 1 : 0) +
        journal.outOfOrder,
      groupsObserved: report.consistent + report.inconsistent,
      mixedStates: report.mixed,
      deadLettered: dead.byCode,
      volumesIdentical: `${identical}/${volumes.length}`,
      seconds: Math.round((Date.now() - began) / 100) / 10,
      notes,
      failures,
    }
    if (lost > 0)
      failures.push(
        `${lost} acknowledged writes lost or wrong: ${JSON.stringify(final ? checkObservation(log, final).slice(0, 3) : [])}`,
      )
    if (report.mixed > 0) failures.push(`mixed states observed: ${JSON.stringify(report.samples.slice(0, 3))}`)
    if (figures.groupsAppliedTwice > 0)
      failures.push(
        `${figures.groupsAppliedTwice} groups applied or journaled twice: ${journal.twiceSamples.join(', ')}`,
      )
    if (figures.outOfOrder > 0)
      failures.push(`${figures.outOfOrder} groups out of order or skipped (history ${JSON.stringify(history)})`)
    if (history.groups !== journal.groups)
      failures.push(`${history.groups} groups applied but ${journal.groups} journaled`)
    if (dead.records > 0)
      failures.push(`records dead-lettered in a run with no bad input: ${JSON.stringify(dead.byCode)}`)
    if (faults === 0) failures.push('no fault was injected')
    figures.faultsSurvived = failures.length === 0 ? faults : 0
    return figures
  }
  try {
    return await Promise.race([run(), budget])
  } catch (err) {
    failures.push(`the run failed: ${(err as Error).stack ?? String(err)}`)
    return {
      scenario: scenario.name,
      seed,
      faultsInjected: faults,
      faultsSurvived: 0,
      writesAcknowledged: log.counts().acked,
      writesInDoubt: log.counts().indoubt,
      writesLost: -1,
      groupsApplied: 0,
      groupsAppliedTwice: 0,
      outOfOrder: 0,
      groupsObserved: 0,
      mixedStates: 0,
      deadLettered: {},
      volumesIdentical: '-',
      seconds: Math.round((Date.now() - began) / 100) / 10,
      notes,
      failures,
    }
  } finally {
    clearTimeout(overtime)
    for (const s of all()) await s.kill('SIGKILL')
    await pool.end()
    if (failures.length > 0) {
      failures.push(`logs kept in ${keepLogs(session.dataDir, `${scenario.name}-${seed}`)}`)
      // a CI run keeps only its output: the logs' warnings and last lines go with the failures
      failures.push(logDigest(session.dataDir))
    }
    await session.cleanup()
  }
}

/** Writes go to the primary that runs the volume's controller (all to one when there is one primary). */
function routedTarget(services: Services, controllers: number): WriteTarget {
  const targets = Array.from({ length: controllers }, (_, id) =>
    httpWriteTarget(() => String((services.primaries[id] ?? services.primaries[0])?.announced.api), 5000),
  )
  return { write: (req) => (targets[Number(/^c(\d+)v/.exec(req.volume)?.[1] ?? 0)] as WriteTarget).write(req) }
}

/** A whole secondary volume (zeros where no block was written). */
async function readSecondaryImage(
  pool: Pool,
  schema: string,
  volume: string,
  blockSize: number,
  blocks: number,
): Promise<Buffer> {
  const image = Buffer.alloc(blockSize * blocks)
  const res = await pool.query<{ block: bigint; data: Buffer }>(
    `SELECT b.block, b.data FROM "${schema}".blocks b JOIN "${schema}".volumes v ON v.id = b.volume_id WHERE v.name = $1`,
    [volume],
  )
  for (const r of res.rows) r.data.copy(image, Number(r.block) * blockSize)
  return image
}

/** Copies a failed run's service logs where they outlive the session's cleanup; returns the folder. */
function keepLogs(dataDir: string, name: string): string {
  const dir = join(tmpdir(), 'xrc-fault-logs', name)
  mkdirSync(dir, { recursive: true })
  for (const f of readdirSync(dataDir).filter((n) => n.endsWith('.log'))) cpSync(join(dataDir, f), join(dir, f))
  return dir
}
