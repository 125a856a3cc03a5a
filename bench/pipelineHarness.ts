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
import { readParentPid } from './procStats.js'
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

  /** Groups committed between two instants, epoch ms, those that only moved the time included. */
  countBetween(fromMs: number, toMs: number): number {
    let n = 0
    for (let i = 0; i < this.length; i++) {
      const c = this.commits[i] as number
      if (c >= fromMs && c <= toMs) n++
    }
    return n
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
  /** Groups the secondary committed per second, from the phase's start to `drainedMs`. */
  groupsPerSec: number
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

/** Starts the primary, the mover and an applier, and tracks them, the broker and the PostgreSQL server. */
export async function startPipeline(options: HarnessOptions): Promise<PipelineHarness> {
  const stages = new StageStarter(options, createResourceMonitor())
  let primary: StageHandle
  let mover: StageHandle
  try {
    // the primary creates the updates topic, which the mover waits for
    primary = await stages.start('primary')
    mover = await stages.start('mover')
  } catch (err) {
    stages.killAll()
    stages.monitor.close()
    throw err
  }
  const pipeline = new Pipeline(stages, primary, mover)
  const brokerPid = await readBrokerPid(stackPaths(options.config).kafkaPid)
  // the broker serves every client of the shared stack: its CPU is the bench's only on a quiet machine
  if (brokerPid !== undefined) await stages.monitor.track('kafka broker', brokerPid)
  return pipeline
}

/** Starts stage processes with their logs in the run's folder, and tracks each one's CPU and memory. */
class StageStarter {
  readonly monitor: ResourceMonitor
  readonly config: Config
  readonly #options: HarnessOptions
  /** Every stage started, stopped ones too. */
  readonly #started: StageHandle[] = []

  constructor(options: HarnessOptions, monitor: ResourceMonitor) {
    this.#options = options
    this.config = options.config
    this.monitor = monitor
  }

  async start(stage: StageName, name: string = stage, config: Config = this.config): Promise<StageHandle> {
    const h = await startStage({
      stage,
      name,
      config,
      logFile: join(this.#options.dir, `${name}.log`),
      execArgv: this.#options.execArgv ?? [],
    })
    this.#started.push(h)
    await this.monitor.track(name, h.pid)
    return h
  }

  /**
   * Tracks the PostgreSQL server whole: the postmaster with its children, live and ended (the applier's connections,
   * opened whenever its pools open them; the checkpointer, background writer and WAL writer, which write what the
   * backends leave; autovacuum workers). The bench is the server's only user while it measures, but for the schema
   * registry's idle connections.
   */
  async trackPostgres(): Promise<void> {
    const client = new pg.Client({ connectionString: this.config.database.url })
    await client.connect()
    try {
      const own = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
      const postmaster = await readParentPid(own.rows[0]?.pid ?? 0)
      if (postmaster !== undefined && postmaster > 1) {
        await this.monitor.track('postgres server', postmaster, { withChildren: true })
      }
    } finally {
      await client.end()
    }
  }

  /** Kills every stage started. */
  killAll(): void {
    for (const h of this.#started) h.kill()
  }
}

/** Waits for the secondary to commit up to a session time; each commit heard releases the waits it covers. */
export class CommitWaits {
  readonly #groups: GroupLog
  readonly #waiters = new Set<{ time: number; resolve: () => void }>()

  constructor(groups: GroupLog) {
    this.#groups = groups
  }

  /** Releases the waits the latest commit covers. */
  committed(): void {
    for (const w of this.#waiters) {
      if (this.#groups.latest >= w.time) {
        this.#waiters.delete(w)
        w.resolve()
      }
    }
  }

  /** Resolves once `time` is committed; rejects at the deadline, or at once when `failures()` names a stage. */
  wait(time: number, timeoutMs: number, failures: () => string | undefined): Promise<void> {
    const groups = this.#groups
    if (groups.latest >= time) return Promise.resolve()
    const deadline = nowMs() + timeoutMs
    return new Promise<void>((resolve, reject) => {
      // a stage that ended (halted, crashed) will never commit: fail at once instead of at the timeout
      const check = setInterval(() => {
        const failed = failures()
        if (failed === undefined && nowMs() <= deadline) return
        clearInterval(check)
        this.#waiters.delete(w)
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
      this.#waiters.add(w)
    })
  }
}

/** The running pipeline: its three stages, the groups they commit, and the phases run on it. */
class Pipeline implements PipelineHarness {
  readonly primary: StageHandle
  readonly groups = new GroupLog()
  readonly journal = new GroupLog()
  readonly monitor: ResourceMonitor
  readonly #stages: StageStarter
  readonly #commits = new CommitWaits(this.groups)
  #mover: StageHandle
  #applier: StageHandle | undefined

  constructor(stages: StageStarter, primary: StageHandle, mover: StageHandle) {
    this.#stages = stages
    this.monitor = stages.monitor
    this.primary = primary
    this.#mover = mover
    this.#followJournal(mover)
  }

  applier(): StageHandle | undefined {
    return this.#applier
  }

  async startApplier(name: string): Promise<StageHandle> {
    if (this.#applier !== undefined) throw new XrcError('XRC_USAGE', { reason: 'alreadyRunning', component: 'applier' })
    const applier = await this.#stages.start('applier', name)
    this.#applier = applier
    applier.onGroup((g) => this.#onGroup(g))
    await this.#stages.trackPostgres()
    return applier
  }

  async stopApplier(): Promise<void> {
    const a = this.#applier
    if (a === undefined) return
    this.#applier = undefined
    await a.stop()
    this.monitor.untrack(a.name)
  }

  waitCommitted(time: number, timeoutMs: number): Promise<void> {
    return this.#commits.wait(time, timeoutMs, () => this.#failures())
  }

  async waitJournaled(time: number, timeoutMs: number): Promise<void> {
    const deadline = nowMs() + timeoutMs
    for (;;) {
      const s = await this.#mover.request<{ groupTime: number }>({ op: 'status' })
      if (s.groupTime >= time) return
      if (nowMs() > deadline)
        throw new XrcError('XRC_TIMEOUT', { reason: 'journal', time, timeoutMs, journaled: s.groupTime })
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  async runPhase(spec: LoadSpec, options: { seed: number; drainTimeoutMs: number }): Promise<PhaseOutcome> {
    const meter = await this.monitor.begin()
    const startMs = nowMs()
    const load = await this.primary.request<LoadResult>({ op: 'load', spec, seed: options.seed })
    const { acked, last } = acknowledged(load.time)
    if (acked > 0) await this.waitCommitted(last, options.drainTimeoutMs)
    const drainedMs = nowMs()
    const usage = await meter.end()
    return {
      load,
      commit: this.groups.commitTimesOf(load.time),
      journalCommit: this.journal.commitTimesOf(load.time),
      acked,
      usage,
      drainedMs,
      groupsPerSec:
        drainedMs > startMs ? (this.groups.countBetween(startMs, drainedMs) * 1000) / (drainedMs - startMs) : 0,
    }
  }

  async restartMover(config: Config): Promise<void> {
    await this.#mover.stop()
    this.#mover = await this.#stages.start('mover', 'mover', config)
    this.#followJournal(this.#mover)
  }

  freezeSecondary(frozen: boolean): void {
    this.#mover.freeze(frozen)
    this.#applier?.freeze(frozen)
  }

  async close(): Promise<void> {
    this.monitor.close()
    // the applier first, so it never waits on a mover that is going
    await this.stopApplier()
    await this.#mover.stop()
    await this.primary.stop()
  }

  kill(): void {
    this.monitor.close()
    this.#stages.killAll()
  }

  #followJournal(mover: StageHandle): void {
    mover.onJournaled((g) => this.journal.add(g))
  }

  #onGroup(g: GroupCommit): void {
    this.groups.add(g)
    this.primary.committed(this.groups.latest)
    this.#commits.committed()
  }

  /** A stage that ended by itself (halted, crashed); a stopped applier is no longer in the list. */
  #failures(): string | undefined {
    for (const h of [this.primary, this.#mover, this.#applier]) {
      const f = h?.failure()
      if (f !== undefined) return `${h?.name}: ${f}`
    }
    return undefined
  }
}

/** How many writes of a load were acknowledged (a failed write's time is NaN), and the latest of their times. */
export function acknowledged(times: Float64Array): { acked: number; last: number } {
  let last = Number.NEGATIVE_INFINITY
  let acked = 0
  for (const t of times) {
    if (Number.isNaN(t)) continue
    acked++
    if (t > last) last = t
  }
  return { acked, last }
}
