/**
 * `xrc demo`: the whole promise in one command. A session of 4 controllers
 * with 2 volumes each runs as the services an operator runs: `xrc primary`,
 * `xrc mover` and `xrc applier`, each a child process of this build with its
 * own event loop (cli/serviceProcess.ts), configured by the demo's config
 * written to demo-config.json in the session's folder, logging to
 * primary.log, mover.log and applier.log beside it. A dependent-write
 * workload in this process writes across controllers through the primary's
 * HTTP API for the given duration while the consistency checker watches
 * every group the secondary shows; then the writers stop, the secondary
 * catches up and every volume is compared byte for byte with the primary.
 *
 * Why the primary is a child too, and the workload writes over HTTP: this
 * process also runs the checker (it reads and decodes every written block's
 * head at each group it sees), the progress line and the commit watch. Were
 * the primary in here, that work would delay its sends to Kafka and the RPO
 * shown would be the demo's own, not the pipeline's; and the acknowledgement
 * the workload sees is then the one a host sees, over the primary's API. A
 * stage that dies fails the demo at once naming it, its exit code and its
 * log, whichever stage it is. The cost: each write is an HTTP request, so
 * fewer writes per second than a function call would make.
 *
 * RPO is measured per write: from its acknowledgement (the HTTP reply of the
 * primary's API, as the workload receives it) to the commit, on the
 * secondary, of the group that holds it (workload/rpoTracker.ts). The commit
 * is seen by reading the control row every 10 ms (commitWatch.ts), so the
 * RPO shown is never shorter than the true one and at most about one
 * interval plus one query longer.
 *
 * The services stop on every way out (success, failure, Ctrl-C): SIGTERM,
 * 15 s at most, then SIGKILL; a demo that is killed leaves none running (they
 * stop when its IPC channel closes).
 */
import { openSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createBlockStore, type BlockStore } from '../../applier/index.js'
import { defaultSchemaName, type Config } from '../../lib/config.js'
import { XrcError } from '../../lib/errors.js'
import { createLogger, silentLogger, type Logger } from '../../lib/logger.js'
import { createPool, type Pool } from '../../lib/postgres.js'
import { sleep, waitFor } from '../../lib/retry.js'
import { volumePath } from '../../producer/index.js'
import { sessionTopics } from '../../schemas/topicNames.js'
import { watchConsistency, type WatchReport } from '../../workload/consistencyWatch.js'
import { runDependentWrites } from '../../workload/dependentWrites.js'
import { httpWriteTarget } from '../../workload/httpTarget.js'
import { RpoTracker, type RpoSummary } from '../../workload/rpoTracker.js'
import { WriteLog } from '../../workload/writeLog.js'
import { ensureStack } from '../ensureStack.js'
import { clockMicros, formatBytes, formatMs } from '../format.js'
import { createProgressOutput, type ProgressOutput } from '../progress.js'
import { startServiceProcess, type ServiceName, type ServiceProcess } from '../serviceProcess.js'
import { isEmptyFootprint, removeSession, sessionFootprint, sessionNames } from '../sessionRemoval.js'
import { serviceHealth, type HealthBody } from '../status/serviceViews.js'
import { watchCommits, type CommitWatch } from './commitWatch.js'
import { earlierDemoSessions, writeDemoMarker } from './demoSession.js'
import { verifyVolumes, type VolumeVerdict } from './verifyVolumes.js'

export interface DemoOptions {
  /** The demo's config: its session (4 controllers x 2 volumes) and the servers. */
  config: Config
  /** The user named the session (--session): never pruned; refused when it has data unless `fresh`. */
  named: boolean
  fresh: boolean
  durationMs: number
  writers: number
  /** Where people read the run; the JSON line is the caller's. */
  out: NodeJS.WriteStream
  /** Stops the writers early (Ctrl-C): the demo then catches up and verifies as usual. */
  interrupt: AbortSignal
}

/** A service of the demo's pipeline, as a process. */
export interface DemoStage {
  pid: number
  /** Its log file. */
  log: string
}

/** What the demo found; `verified` only when every volume is identical and no mixed state was seen. */
export interface DemoResult {
  session: string
  writes: number
  writesInDoubt: number
  writesPerSecond: number
  durationMs: number
  groups: number
  consistencyTime: number | undefined
  rpo: RpoSummary
  groupsChecked: number
  mixedStates: number
  violations: string[]
  volumes: VolumeVerdict[]
  verified: boolean
  logFile: string
  /** The demo's own process. */
  pid: number
  /** The services, each a process of its own. */
  stages: Record<ServiceName, DemoStage>
}

interface Pipeline {
  services: Record<ServiceName, ServiceProcess>
  /** The primary's HTTP API. */
  apiUrl: string
  /** The mover's and applier's /health and /metrics. */
  moverUrl: string
  applierUrl: string
  pool: Pool
  /** The secondary, read-only (the final byte-for-byte check). */
  store: BlockStore
  commits: CommitWatch
  /** Throws when a service exited while still needed, naming it, its exit code and its log. */
  check(): void
  stop(): Promise<void>
}

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const { config, out } = options
  const session = config.session.name
  const progress = createProgressOutput(out)
  const say = (line: string): void => progress.note(line)
  const volumes = config.session.controllers.flatMap((c) =>
    c.volumes.map((v) => ({ name: v.name, blocks: v.blocks, controller: c.id })),
  )
  const firstVolume = volumes[0]
  say(
    `xrc demo: session ${session}: ${config.session.controllers.length} controllers x ` +
      `${config.session.controllers[0]?.volumes.length ?? 0} volumes of ` +
      `${formatBytes((firstVolume?.blocks ?? 0) * config.session.blockSize)}, ${options.writers} ` +
      `writers for ${formatMs(options.durationMs)}`,
  )
  await ensureStack(config, (line) => say(`  ${line}`))

  const names = sessionNames(config)
  const logFile = join(names.folder, 'demo.log')
  // before the log file exists; what it does is said on screen
  await prepareSession(options, names, silentLogger, say)
  await writeDemoMarker(names.folder, {
    session,
    pid: process.pid,
    auto: !options.named,
    startedAt: new Date().toISOString(),
  })
  const logger = createLogger({ level: config.log.level, name: 'xrc-demo', destination: openSync(logFile, 'a') }).child(
    { session },
  )
  say(`  logs: ${names.folder}/{demo,primary,mover,applier}.log`)

  const rpo = new RpoTracker()
  const pipeline = await startPipeline(config, names.folder, logger, (group, atMs) => {
    rpo.committed(group.groupTime, atMs)
  })
  const { primary, mover, applier } = pipeline.services
  const topics = sessionTopics(session)
  say(
    `  pipeline: primary (pid ${primary.pid}, ${config.session.controllers.length} controllers, API ` +
      `${pipeline.apiUrl}) -> ${topics.updates} -> mover (pid ${mover.pid}) -> ${topics.journal} -> ` +
      `applier (pid ${applier.pid}) -> PostgreSQL schema ${config.applier.schema}`,
  )
  const log = new WriteLog()
  const watch = watchConsistency({ pool: pipeline.pool, schema: config.applier.schema, session, log, intervalMs: 250 })
  try {
    const started = performance.now()
    const workload = await writeFor(options, pipeline, { log, rpo, progress, watch })
    say(
      `  stopped the writers after ${formatMs(workload.ms)}: ${workload.acked} writes acknowledged; ` +
        `waiting for the secondary to catch up`,
    )
    const caughtUpIn = await catchUp(pipeline, log, progress, watch, config.applier.schema)
    const report = await watch.stop()
    progress.end()
    say(`  caught up in ${formatMs(caughtUpIn)}; verifying ${volumes.length} volumes byte for byte against the primary`)
    const { verdicts, asOf } = await verifyVolumes(
      pipeline.store,
      volumes.map((v) => v.name),
      (v) => volumePath(config.session.dataDir, session, v),
    )
    const identical = verdicts.every((v) => v.identical)
    const stage = (p: ServiceProcess): DemoStage => ({ pid: p.pid, log: p.logFile })
    return {
      session,
      writes: workload.acked,
      writesInDoubt: log.counts().indoubt,
      writesPerSecond: Math.round(workload.acked / (workload.ms / 1000)),
      durationMs: Math.round(performance.now() - started),
      groups: pipeline.commits.last()?.groupSeq ?? 0,
      consistencyTime: asOf?.groupTime,
      rpo: rpo.summary(),
      groupsChecked: report.groupsObserved,
      mixedStates: report.mixedStates,
      violations: report.samples.map((s) => s.message),
      volumes: verdicts,
      verified: identical && report.mixedStates === 0 && report.groupsObserved > 0,
      logFile,
      pid: process.pid,
      stages: { primary: stage(primary), mover: stage(mover), applier: stage(applier) },
    }
  } finally {
    progress.end()
    // the checker's loop keeps the process alive until stopped (again, harmlessly, on success)
    await watch.stop().catch(() => undefined)
    await pipeline.stop()
    logger.flush()
  }
}

/** Starts from an empty session: refuses a named one that has data (unless --fresh), and tidies earlier demo runs. */
async function prepareSession(
  options: DemoOptions,
  names: ReturnType<typeof sessionNames>,
  logger: Logger,
  say: (line: string) => void,
): Promise<void> {
  const { config } = options
  const footprint = await sessionFootprint(config, names, logger)
  if (!isEmptyFootprint(footprint)) {
    const what = [
      ...footprint.topics,
      ...(footprint.schema ? [`schema ${names.schema}`] : []),
      ...(footprint.folder ? [names.folder] : []),
    ].join(', ')
    if (options.named && !options.fresh) {
      throw new XrcError('XRC_USAGE', { reason: 'demoSessionNotEmpty', session: names.session, what })
    }
    await removeSession(config, names, logger)
    say(`  removed the earlier data of session ${names.session} (${what})`)
  }
  if (options.named) return
  const earlier = await removeEarlierDemos(config, names.session, logger)
  if (earlier.length > 0)
    say(
      `  removed ${earlier.length} earlier demo session${earlier.length > 1 ? 's' : ''} ` +
        `(${earlier.join(', ')}): only the latest is kept`,
    )
}

/**
 * Removes the sessions earlier demo runs named themselves (their process ended), except `keep`; returns their names.
 */
export async function removeEarlierDemos(config: Config, keep: string, logger: Logger): Promise<string[]> {
  const earlier = await earlierDemoSessions(config.session.dataDir, keep)
  for (const session of earlier) {
    await removeSession(
      config,
      { session, schema: defaultSchemaName(session), folder: join(config.session.dataDir, session) },
      logger,
    )
  }
  return earlier
}

/** The demo's config as the services read it: ports chosen by the system, no NBD export. */
function serviceConfig(config: Config): Config {
  return {
    ...config,
    producer: { ...config.producer, apiPort: 0 },
    nbd: { ...config.nbd, port: -1 },
    mover: { ...config.mover, metricsPort: 0 },
    applier: { ...config.applier, metricsPort: 0 },
  }
}

/** The base URL of a mover's or applier's endpoints, from its ready line's metrics URL. */
function baseUrl(service: ServiceProcess): string {
  return String(service.ready.metrics ?? '').replace(/\/metrics$/, '')
}

/** Starts the three services as processes (the primary first: it creates the updates topic the mover waits for). */
async function startPipeline(
  config: Config,
  folder: string,
  logger: Logger,
  onCommitted: (group: { groupSeq: number; groupTime: number }, atMs: number) => void,
): Promise<Pipeline> {
  const configFile = join(folder, 'demo-config.json')
  // it holds the database URL, password included when there is one: for this user only
  await writeFile(configFile, `${JSON.stringify(serviceConfig(config), null, 2)}\n`, { mode: 0o600 })
  const session = config.session.name
  const started: ServiceProcess[] = []
  const start = async (service: ServiceName, args: string[] = []): Promise<ServiceProcess> => {
    const p = await startServiceProcess({
      service,
      configFile,
      session,
      args,
      logFile: join(folder, `${service}.log`),
    })
    started.push(p)
    logger.info({ service, pid: p.pid, ...p.ready }, `${service} started`)
    return p
  }
  const stopServices = async (): Promise<void> => {
    const exits = await Promise.all(started.map((p) => p.stop()))
    started.forEach((p, i) => logger.info({ service: p.service, pid: p.pid, ...exits[i] }, `${p.service} exited`))
  }
  let pool: Pool | undefined
  let commits: CommitWatch | undefined
  try {
    const primary = await start('primary', ['--api-port', '0', '--nbd-port', '-1'])
    const [mover, applier] = await Promise.all([start('mover'), start('applier')])
    pool = createPool({ url: config.database.url, logger, max: 3, applicationName: 'xrc-demo' })
    const store = createBlockStore({
      pool,
      schema: config.applier.schema,
      session,
      blockSize: config.session.blockSize,
      volumes: config.session.controllers.flatMap((c) => c.volumes),
      logger,
    })
    commits = watchCommits({ pool, schema: config.applier.schema, session, onCommitted })
    const services = { primary, mover, applier }
    const ownPool = pool
    const ownCommits = commits
    return {
      services,
      apiUrl: String(primary.ready.api),
      moverUrl: baseUrl(mover),
      applierUrl: baseUrl(applier),
      pool,
      store,
      commits,
      check() {
        for (const p of started) p.check()
      },
      async stop() {
        await ownCommits.stop()
        await stopServices()
        await ownPool.end()
      },
    }
  } catch (err) {
    await commits?.stop().catch(() => undefined)
    await stopServices().catch(() => undefined)
    await pool?.end().catch(() => undefined)
    throw err
  }
}

interface Watchers {
  log: WriteLog
  rpo: RpoTracker
  progress: ProgressOutput
  watch: { current: () => Readonly<WatchReport> }
}

/** Runs the workload until the duration passes (or the user interrupts), drawing progress every second. */
async function writeFor(options: DemoOptions, p: Pipeline, w: Watchers): Promise<{ acked: number; ms: number }> {
  const { config } = options
  const stopWriters = new AbortController()
  const onInterrupt = (): void => stopWriters.abort()
  options.interrupt.addEventListener('abort', onInterrupt, { once: true })
  // Ctrl-C while the pipeline started: an abort event is not replayed
  if (options.interrupt.aborted) stopWriters.abort()
  const volumes = config.session.controllers.flatMap((c) =>
    c.volumes.map((v) => ({ name: v.name, blocks: v.blocks, controller: c.id })),
  )
  let acked = 0
  const started = performance.now()
  const run = runDependentWrites(
    httpWriteTarget(() => p.apiUrl, undefined, config.producer.apiToken),
    {
      volumes,
      blockSize: config.session.blockSize,
      writers: options.writers,
      signal: stopWriters.signal,
      log: w.log,
      seed: Date.now() % 100_000,
      onAck: (rec) => {
        acked++
        if (rec.time !== undefined) w.rpo.acked(rec.time, performance.now())
      },
    },
  )
  let lastAcked = 0
  let lastTick = started
  try {
    while (!stopWriters.signal.aborted && performance.now() - started < options.durationMs) {
      await sleep(
        Math.min(1000, Math.max(1, options.durationMs - (performance.now() - started))),
        stopWriters.signal,
      ).catch(() => undefined)
      p.check()
      const health = await stageHealth(p)
      const now = performance.now()
      const rate = ((acked - lastAcked) * 1000) / Math.max(1, now - lastTick)
      lastAcked = acked
      lastTick = now
      const elapsed = `${Math.round((now - started) / 1000)}s/${Math.round(options.durationMs / 1000)}s`
      w.progress.update(
        `  [${elapsed.padStart(7)}] ${Math.round(rate).toLocaleString('en')} writes/s ` +
          `(${acked.toLocaleString('en')})  ${statusLine(p, w, health.moverGroupSeq)}`,
      )
    }
  } finally {
    stopWriters.abort()
    options.interrupt.removeEventListener('abort', onInterrupt)
  }
  const result = await run
  return { acked: result.acked, ms: performance.now() - started }
}

/**
 * The mover's and applier's /health (as `xrc status` reads them): throws when either says it is halted (a halt
 * that waits for an operator keeps the process running); returns the mover's last journaled group, when it
 * answered.
 */
async function stageHealth(p: Pipeline): Promise<{ moverGroupSeq: number | undefined }> {
  const [mover, applier] = await Promise.all([serviceHealth(p.moverUrl, 1000), serviceHealth(p.applierUrl, 1000)])
  const halted = (service: ServiceProcess, h: typeof mover): void => {
    if (!h.reachable || h.body.status !== 'halted') return
    throw new XrcError('XRC_SESSION_HALTED', {
      reason: 'serviceHalted',
      stage: service.service,
      pid: service.pid,
      problem: haltReason(h.body),
      log: service.logFile,
    })
  }
  // a service that exited does not answer: say that, with its exit code, rather than "unreachable"
  p.check()
  halted(p.services.mover, mover)
  halted(p.services.applier, applier)
  const seq = mover.reachable ? mover.body.groupSeq : undefined
  return { moverGroupSeq: typeof seq === 'number' ? seq : undefined }
}

function haltReason(body: HealthBody): string {
  if (typeof body.reason === 'string') return body.reason
  return body.halt ? `${body.halt.code ?? ''} ${body.halt.message}`.trim() : 'no reason given'
}

/** The pipeline's part of a progress line: consistency time, RPO, journal lag, checker. */
function statusLine(p: Pipeline, w: Watchers, moverGroupSeq: number | undefined): string {
  const applied = p.commits.last()
  const lagGroups = moverGroupSeq === undefined ? undefined : Math.max(0, moverGroupSeq - (applied?.groupSeq ?? 0))
  const t = applied
    ? `T ${clockMicros(applied.groupTime)} (${formatMs(Date.now() - applied.groupTime / 1000)} ago)`
    : 'T -'
  const r = w.rpo.summary()
  const check = w.watch.current()
  const lag = lagGroups === undefined ? '?' : `${lagGroups} group${lagGroups === 1 ? '' : 's'}`
  return (
    `${t}  RPO p50 ${formatMs(r.p50Ms)} p99 ${formatMs(r.p99Ms)}  journal lag ${lag}  ` +
    `groups ${applied?.groupSeq ?? 0}  mixed ${check.mixedStates}`
  )
}

/** Waits until the last acknowledged write is in an applied group; returns how long that took. */
async function catchUp(
  p: Pipeline,
  log: WriteLog,
  progress: ProgressOutput,
  watch: Watchers['watch'],
  schema: string,
): Promise<number> {
  const began = performance.now()
  const target = log.lastAckedTime()
  let lastHealth = performance.now()
  await waitFor(
    'the secondary to apply the last acknowledged write',
    async () => {
      p.check()
      if (performance.now() - lastHealth >= 1000) {
        lastHealth = performance.now()
        await stageHealth(p)
      }
      const applied = p.commits.last()?.groupTime ?? 0
      progress.update(
        `  catching up: applied T ${applied ? clockMicros(applied) : '-'}, last write at ` +
          `${clockMicros(target)}  mixed ${watch.current().mixedStates}`,
      )
      return applied >= target ? true : undefined
    },
    { timeoutMs: 120_000, intervalMs: 50 },
  ).catch((err: unknown) => {
    if (err instanceof XrcError && err.code === 'XRC_TIMEOUT')
      throw new XrcError('XRC_TIMEOUT', { reason: 'catchUp', seconds: 120, schema }, { cause: err })
    throw err
  })
  return performance.now() - began
}
