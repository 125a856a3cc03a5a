/**
 * The pipeline under test, as the bench drives it: the three stages in
 * processes of their own, the groups the applier commits (collected in
 * order, and passed on to the primary for windowed loads), the processes
 * whose CPU and memory are measured, and a load phase from the first write
 * to the commit of the last.
 */
import { join } from 'node:path'
import pg from 'pg'
import type { Config } from '../lib/config.js'
import { XrcError } from '../lib/errors.js'
import { stackPaths } from '../stack/paths.js'
import { readBrokerPid } from './kafkaCeiling.js'
import { nowMs, type GroupCommit, type LoadResult, type LoadSpec, type StageName } from './protocol.js'
import { createResourceMonitor, type ProcessUsage, type ResourceMonitor } from './resourceMonitor.js'
import { commitTimes } from './schedule.js'
import { startStage, type StageHandle } from './stages.js'

/** Groups committed so far, in order (growable columns, so a long run does not hold objects per group). */
export class GroupLog {
  private times = new Float64Array(1024)
  private commits = new Float64Array(1024)
  private sizes = new Float64Array(1024)
  length = 0
  /** Latest consistency time committed, µs. */
  latest = Number.NEGATIVE_INFINITY

  add(g: GroupCommit): void {
    // a late applier re-reports nothing already applied; group times strictly increase
    if (g.groupTime <= this.latest) return
    if (this.length === this.times.length) {
      const grow = (a: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> => {
        const b = new Float64Array(a.length * 2)
        b.set(a)
        return b
      }
      this.times = grow(this.times)
      this.commits = grow(this.commits)
      this.sizes = grow(this.sizes)
    }
    this.times[this.length] = g.groupTime
    this.commits[this.length] = g.commitMs
    this.sizes[this.length] = g.updates
    this.length++
    this.latest = g.groupTime
  }

  /** When each write (by session time) was committed; NaN where not yet. */
  commitTimesOf(writeTimes: Float64Array): Float64Array {
    return commitTimes(writeTimes, {
      groupTime: this.times.subarray(0, this.length),
      commitMs: this.commits.subarray(0, this.length),
    })
  }

  /** Sizes (updates) of the groups committed between two instants, epoch ms. */
  sizesBetween(fromMs: number, toMs: number): number[] {
    const out: number[] = []
    for (let i = 0; i < this.length; i++) {
      const c = this.commits[i] as number
      if (c >= fromMs && c <= toMs && (this.sizes[i] as number) > 0) out.push(this.sizes[i] as number)
    }
    return out
  }
}

/** A load phase, measured from its first write to the commit of its last. */
export interface PhaseOutcome {
  load: LoadResult
  /** Commit time of each write's group on the secondary, epoch ms (NaN for a failed write). */
  commit: Float64Array
  /** Commit time of each write's group in the journal (the mover's transaction), epoch ms. */
  journalCommit: Float64Array
  /** Writes acknowledged. */
  acked: number
  /** CPU and memory per process during the phase (through the drain). */
  usage: Record<string, ProcessUsage>
  /** When the last write was committed, epoch ms. */
  drainedMs: number
}

/** The running pipeline, as the bench drives and measures it. */
export interface PipelineHarness {
  readonly primary: StageHandle
  /** Groups committed on the secondary. */
  readonly groups: GroupLog
  /** Groups committed in the journal. */
  readonly journal: GroupLog
  readonly monitor: ResourceMonitor
  /** The applier now running, if any. */
  applier(): StageHandle | undefined
  /** Starts an applier (first, or late after a backlog); its group commits feed `groups`. */
  startApplier(name: string): Promise<StageHandle>
  stopApplier(): Promise<void>
  /** Runs a load on the primary and waits until the secondary has committed all of it. */
  runPhase(spec: LoadSpec, options: { seed: number; drainTimeoutMs: number }): Promise<PhaseOutcome>
  /** Resolves once the secondary has committed every write up to session time `time`. */
  waitCommitted(time: number, timeoutMs: number): Promise<void>
  /**
   * Replaces the mover with one running `config` (another mover.groupIntervalMs,
   * say); it resumes from the journal's tail like any restarted mover.
   */
  restartMover(config: Config): Promise<void>
  /** Resolves once the mover has journaled a group covering session time `time`. */
  waitJournaled(time: number, timeoutMs: number): Promise<void>
  /**
   * Freezes the mover and the applier (SIGSTOP) or thaws them: writes then
   * go through the primary to Kafka with no secondary work on the machine.
   */
  freezeSecondary(frozen: boolean): void
  /** Stops every stage (clean stop; SIGKILL past a bound). */
  close(): Promise<void>
  /** Kills every stage at once (after a failure). */
  kill(): void
}

/** What the stages run with. */
export interface HarnessOptions {
  config: Config
  /** Folder for the stages' logs. */
  dir: string
  /** Extra node flags for the stages (e.g. --cpu-prof). */
  execArgv?: string[]
}

/** Starts the primary, the mover and an applier, and tracks them, the broker and the applier's PostgreSQL backends. */
export async function startPipeline(options: HarnessOptions): Promise<PipelineHarness> {
  const { config, dir } = options
  const monitor = createResourceMonitor()
  const groups = new GroupLog()
  const journal = new GroupLog()
  const started: StageHandle[] = []
  const stage = async (s: StageName, name: string = s, stageConfig: Config = config): Promise<StageHandle> => {
    const h = await startStage({
      stage: s,
      name,
      config: stageConfig,
      logFile: join(dir, `${name}.log`),
      execArgv: options.execArgv ?? [],
    })
    started.push(h)
    await monitor.track(name, h.pid)
    return h
  }
  let applier: StageHandle | undefined
  const waiters = new Set<{ time: number; resolve: () => void }>()
  const onGroup = (g: GroupCommit): void => {
    groups.add(g)
    primary.committed(groups.latest)
    for (const w of waiters) {
      if (groups.latest >= w.time) {
        waiters.delete(w)
        w.resolve()
      }
    }
  }
  // a stage that ended by itself (halted, crashed); a stopped applier is no longer in the list
  const failures = (): string | undefined => {
    for (const h of [primary, mover, applier]) {
      const f = h?.failure()
      if (f !== undefined) return `${h?.name}: ${f}`
    }
    return undefined
  }

  let primary: StageHandle
  let mover: StageHandle
  try {
    // the primary creates the updates topic, which the mover waits for
    primary = await stage('primary')
    mover = await stage('mover')
    mover.onJournaled((g) => journal.add(g))
  } catch (err) {
    for (const h of started) h.kill()
    monitor.close()
    throw err
  }
  const brokerPid = await readBrokerPid(stackPaths(config).kafkaPid)
  // the broker serves every client of the shared stack: its CPU is the bench's only on a quiet machine
  if (brokerPid !== undefined) await monitor.track('kafka broker', brokerPid)

  async function trackBackends(): Promise<void> {
    const client = new pg.Client({ connectionString: config.database.url })
    await client.connect()
    try {
      const res = await client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [
        `xrc-applier-${config.session.name}`,
      ])
      for (const r of res.rows) await monitor.track(`postgres backend ${r.pid}`, r.pid)
    } finally {
      await client.end()
    }
  }

  const harness: PipelineHarness = {
    primary,
    groups,
    journal,
    monitor,
    applier: () => applier,
    async startApplier(name) {
      if (applier !== undefined) throw new XrcError('XRC_USAGE', { reason: 'alreadyRunning', component: 'applier' })
      applier = await stage('applier', name)
      applier.onGroup(onGroup)
      await trackBackends()
      return applier
    },
    async stopApplier() {
      const a = applier
      if (a === undefined) return
      applier = undefined
      await a.stop()
      monitor.untrack(a.name)
    },
    waitCommitted(time, timeoutMs) {
      if (groups.latest >= time) return Promise.resolve()
      const deadline = nowMs() + timeoutMs
      return new Promise<void>((resolve, reject) => {
        // a stage that ended (halted, crashed) will never commit: fail at once instead of at the timeout
        const check = setInterval(() => {
          const failed = failures()
          if (failed === undefined && nowMs() <= deadline) return
          clearInterval(check)
          waiters.delete(w)
          reject(
            failed
              ? new XrcError('XRC_SESSION_HALTED', { reason: 'pipelineStopped', problem: failed })
              : new XrcError('XRC_TIMEOUT', { reason: 'commit', time, timeoutMs, committed: groups.latest }),
          )
        }, 200)
        const w = {
          time,
          resolve: () => {
            clearInterval(check)
            resolve()
          },
        }
        waiters.add(w)
      })
    },
    async waitJournaled(time, timeoutMs) {
      const deadline = nowMs() + timeoutMs
      for (;;) {
        const s = await mover.request<{ groupTime: number }>({ op: 'status' })
        if (s.groupTime >= time) return
        if (nowMs() > deadline)
          throw new XrcError('XRC_TIMEOUT', { reason: 'journal', time, timeoutMs, journaled: s.groupTime })
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    },
    async runPhase(spec, phaseOptions) {
      const meter = await monitor.begin()
      const load = await primary.request<LoadResult>({ op: 'load', spec, seed: phaseOptions.seed })
      let last = Number.NEGATIVE_INFINITY
      let acked = 0
      for (const t of load.time) {
        if (Number.isNaN(t)) continue
        acked++
        if (t > last) last = t
      }
      if (acked > 0) await harness.waitCommitted(last, phaseOptions.drainTimeoutMs)
      const drainedMs = nowMs()
      const usage = await meter.end()
      return {
        load,
        commit: groups.commitTimesOf(load.time),
        journalCommit: journal.commitTimesOf(load.time),
        acked,
        usage,
        drainedMs,
      }
    },
    async restartMover(moverConfig) {
      await mover.stop()
      mover = await stage('mover', 'mover', moverConfig)
      mover.onJournaled((g) => journal.add(g))
    },
    freezeSecondary(frozen) {
      mover.freeze(frozen)
      applier?.freeze(frozen)
    },
    async close() {
      monitor.close()
      // the applier first, so it never waits on a mover that is going
      await harness.stopApplier()
      await mover.stop()
      await primary.stop()
    },
    kill() {
      monitor.close()
      for (const h of started) h.kill()
    },
  }
  return harness
}
