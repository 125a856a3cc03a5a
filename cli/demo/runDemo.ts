/**
 * `xrc demo`: the whole promise in one command. A session of 4 controllers
 * with 2 volumes each runs in this process (primary, mover, applier, the
 * same code the services run); a dependent-write workload writes across
 * controllers for the given duration while the consistency checker watches
 * every group the secondary shows; then the writers stop, the secondary
 * catches up and every volume is compared byte for byte with the primary.
 *
 * RPO here is measured per write: from its acknowledgement to the commit,
 * on the secondary, of the group that holds it (workload/rpoTracker.ts).
 */
import { openSync } from 'node:fs'
import { join } from 'node:path'
import { createApplier, type Applier } from '../../applier/index.js'
import { defaultSchemaName, type Config } from '../../lib/config.js'
import { XrcError } from '../../lib/errors.js'
import { createLogger, silentLogger, type Logger } from '../../lib/logger.js'
import { watchStages, type StageWatch } from '../../lib/stage.js'
import { createPool, type Pool } from '../../lib/postgres.js'
import { sleep, waitFor } from '../../lib/retry.js'
import { createMover, type Mover } from '../../mover/index.js'
import { createPrimary, startHttpApi, volumePath, type HttpApi, type Primary } from '../../producer/index.js'
import { sessionTopics } from '../../schemas/topicNames.js'
import { watchConsistency, type WatchReport } from '../../workload/consistencyWatch.js'
import { runDependentWrites } from '../../workload/dependentWrites.js'
import { RpoTracker, type RpoSummary } from '../../workload/rpoTracker.js'
import { WriteLog } from '../../workload/writeLog.js'
import { ensureStack } from '../ensureStack.js'
import { clockMicros, formatBytes, formatMs } from '../format.js'
import { createProgressOutput, type ProgressOutput } from '../progress.js'
import { isEmptyFootprint, removeSession, sessionFootprint, sessionNames } from '../sessionRemoval.js'
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
}

interface Pipeline {
  primary: Primary
  mover: Mover
  applier: Applier
  api: HttpApi
  pool: Pool
  /** Throws when a stage halted or failed. */
  stages: StageWatch
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
  say(`  logs: ${logFile}`)

  const rpo = new RpoTracker()
  let groups = 0
  const pipeline = await startPipeline(config, logger, (groupTime) => {
    groups++
    rpo.committed(groupTime, performance.now())
  })
  const topics = sessionTopics(session)
  say(
    `  pipeline: primary (${config.session.controllers.length} controllers, API ` +
      `${pipeline.api.url}) -> ${topics.updates} -> mover -> ${topics.journal} -> applier -> ` +
      `PostgreSQL schema ${config.applier.schema}`,
  )
  const log = new WriteLog()
  const watch = watchConsistency({ pool: pipeline.pool, schema: config.applier.schema, session, log, intervalMs: 250 })
  try {
    const started = performance.now()
    const workload = await writeFor(options, pipeline, { log, rpo, progress, watch, groups: () => groups })
    say(
      `  stopped the writers after ${formatMs(workload.ms)}: ${workload.acked} writes acknowledged; ` +
        `waiting for the secondary to catch up`,
    )
    const caughtUpIn = await catchUp(pipeline, log, progress, watch)
    const report = await watch.stop()
    progress.end()
    say(`  caught up in ${formatMs(caughtUpIn)}; verifying ${volumes.length} volumes byte for byte against the primary`)
    const { verdicts, asOf } = await verifyVolumes(
      pipeline.applier.store,
      volumes.map((v) => v.name),
      (v) => volumePath(config.session.dataDir, session, v),
    )
    const identical = verdicts.every((v) => v.identical)
    return {
      session,
      writes: workload.acked,
      writesInDoubt: log.counts().indoubt,
      writesPerSecond: Math.round(workload.acked / (workload.ms / 1000)),
      durationMs: Math.round(performance.now() - started),
      groups,
      consistencyTime: asOf?.groupTime,
      rpo: rpo.summary(),
      groupsChecked: report.groupsObserved,
      mixedStates: report.mixedStates,
      violations: report.samples.map((s) => s.message),
      volumes: verdicts,
      verified: identical && report.mixedStates === 0 && report.groupsObserved > 0,
      logFile,
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

async function startPipeline(
  config: Config,
  logger: Logger,
  onApplied: (groupTime: number) => void,
): Promise<Pipeline> {
  const pool = createPool({ url: config.database.url, logger, max: 2, applicationName: 'xrc-demo' })
  const primary = createPrimary({ config, logger })
  const mover = createMover({ config, logger })
  const applier = createApplier({
    config,
    logger,
    onGroup: (e) => {
      if (e.outcome === 'applied') onApplied(e.groupTime)
    },
  })
  let api: HttpApi | undefined
  const stop = async (): Promise<void> => {
    await api?.close().catch(() => undefined)
    await primary.stop()
    await mover.stop()
    await applier.stop()
    await pool.end()
  }
  try {
    // the primary creates the updates topic the mover waits for
    await primary.start()
    await Promise.all([mover.start(), applier.start()])
    api = await startHttpApi({ primary, port: 0, logger })
  } catch (err) {
    await stop().catch(() => undefined)
    throw err
  }
  return { primary, mover, applier, api, pool, stages: watchStages([primary, mover, applier]), stop }
}

interface Watchers {
  log: WriteLog
  rpo: RpoTracker
  progress: ProgressOutput
  watch: { current: () => Readonly<WatchReport> }
  groups: () => number
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
  const run = runDependentWrites(p.primary, {
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
  })
  let lastAcked = 0
  let lastTick = started
  try {
    while (!stopWriters.signal.aborted && performance.now() - started < options.durationMs) {
      await sleep(
        Math.min(1000, Math.max(1, options.durationMs - (performance.now() - started))),
        stopWriters.signal,
      ).catch(() => undefined)
      p.stages.check()
      const now = performance.now()
      const rate = ((acked - lastAcked) * 1000) / Math.max(1, now - lastTick)
      lastAcked = acked
      lastTick = now
      const elapsed = `${Math.round((now - started) / 1000)}s/${Math.round(options.durationMs / 1000)}s`
      w.progress.update(
        `  [${elapsed.padStart(7)}] ${Math.round(rate).toLocaleString('en')} writes/s ` +
          `(${acked.toLocaleString('en')})  ${statusLine(p, w)}`,
      )
    }
  } finally {
    stopWriters.abort()
    options.interrupt.removeEventListener('abort', onInterrupt)
  }
  const result = await run
  return { acked: result.acked, ms: performance.now() - started }
}

/** The pipeline's part of a progress line: consistency time, RPO, journal lag, checker. */
function statusLine(p: Pipeline, w: Watchers): string {
  const applied = p.applier.status().lastApplied
  const lagGroups = Math.max(0, p.mover.status().groupSeq - (applied?.groupSeq ?? 0))
  const t = applied
    ? `T ${clockMicros(applied.groupTime)} (${formatMs(Date.now() - applied.groupTime / 1000)} ago)`
    : 'T -'
  const r = w.rpo.summary()
  const check = w.watch.current()
  return (
    `${t}  RPO p50 ${formatMs(r.p50Ms)} p99 ${formatMs(r.p99Ms)}  journal lag ${lagGroups} ` +
    `group${lagGroups === 1 ? '' : 's'}  groups ${w.groups()}  mixed ${check.mixedStates}`
  )
}

/** Waits until the last acknowledged write is in an applied group; returns how long that took. */
async function catchUp(
  p: Pipeline,
  log: WriteLog,
  progress: ProgressOutput,
  watch: Watchers['watch'],
): Promise<number> {
  const began = performance.now()
  const target = log.lastAckedTime()
  await waitFor(
    'the secondary to apply the last acknowledged write',
    async () => {
      p.stages.check()
      const applied = (await p.applier.store.lastApplied())?.groupTime ?? 0
      progress.update(
        `  catching up: applied T ${applied ? clockMicros(applied) : '-'}, last write at ` +
          `${clockMicros(target)}  mixed ${watch.current().mixedStates}`,
      )
      return applied >= target ? true : undefined
    },
    { timeoutMs: 120_000, intervalMs: 50 },
  ).catch((err: unknown) => {
    if (err instanceof XrcError && err.code === 'XRC_TIMEOUT')
      throw new XrcError(
        'XRC_TIMEOUT',
        { reason: 'catchUp', seconds: 120, schema: p.applier.status().schema },
        { cause: err },
      )
    throw err
  })
  return performance.now() - began
}
