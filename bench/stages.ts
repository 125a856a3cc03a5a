/**
 * The parent's side of the stage processes (protocol.ts): fork one, wait for
 * it to be ready, send it requests, hear its group commits, stop it. A
 * stage's log (stderr) goes to a file in the run's folder, kept when the
 * run fails.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { openSync, closeSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Config } from '../lib/config.js'
import { XrcError } from '../lib/errors.js'
import type { ChildMessage, GroupCommit, GroupJournaled, ParentMessage, StageName, StageRequest } from './protocol.js'

const STAGE_SCRIPT = fileURLToPath(new URL('./stageProcess.js', import.meta.url))

/** One stage process, seen from the bench. */
export interface StageHandle {
  readonly name: string
  readonly stage: StageName
  readonly pid: number
  readonly logFile: string
  request<T>(body: StageRequest, timeoutMs?: number): Promise<T>
  /** Tells a primary how far the secondary has committed (windowed loads). */
  committed(groupTime: number): void
  /** Group commits of an applier stage. */
  onGroup(listener: (g: GroupCommit) => void): void
  /** Journal commits of a mover stage. */
  onJournaled(listener: (g: GroupJournaled) => void): void
  /** Asks the service to stop cleanly and waits for the process to exit (SIGKILL after `timeoutMs`). */
  stop(timeoutMs?: number): Promise<void>
  /** Freezes (SIGSTOP) or thaws (SIGCONT) the process: a stage that does nothing for a while, with nothing lost. */
  freeze(frozen: boolean): void
  /** Ends the process at once (cleanup after a failure). */
  kill(): void
  /** Why the stage ended by itself, once it has (a halted service, a crash). */
  failure(): string | undefined
}

/** How to start a stage process. */
export interface StartStageOptions {
  stage: StageName
  /** Label in the report and log file name (e.g. "applier-late-1"). */
  name?: string
  config: Config
  logFile: string
  /** Extra node flags, e.g. --cpu-prof. */
  execArgv?: string[]
  readyTimeoutMs?: number
}

/** Forks a stage process and resolves once its service has started. */
export async function startStage(options: StartStageOptions): Promise<StageHandle> {
  const stage = new StageProcess(options, forkStage(options.logFile, options.execArgv ?? []))
  await stage.ready(options.readyTimeoutMs ?? 90_000)
  return stage
}

/** The stage script in a child process, its stdout and stderr appended to `logFile`. */
function forkStage(logFile: string, execArgv: string[]): ChildProcess {
  const logFd = openSync(logFile, 'a')
  try {
    return fork(STAGE_SCRIPT, [], { serialization: 'advanced', stdio: ['ignore', logFd, logFd, 'ipc'], execArgv })
  } finally {
    closeSync(logFd) // the child holds its own copy
  }
}

interface PendingReply {
  resolve: (v: unknown) => void
  reject: (e: Error) => void
  timer: NodeJS.Timeout
}

/** Requests sent and not yet answered, each with its timeout. */
export class PendingReplies {
  readonly #pending = new Map<number, PendingReply>()
  #nextId = 1

  /** A new request's id and its reply: settled through `take`, or rejected with `timedOut()` after `timeoutMs`. */
  add<T>(timeoutMs: number, timedOut: () => Error): { id: number; reply: Promise<T> } {
    const id = this.#nextId++
    const reply = new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        reject(timedOut())
      }, timeoutMs)
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer })
    })
    return { id, reply }
  }

  /** The pending request `id`, no longer pending (undefined: an answer to no pending request). */
  take(id: number): Pick<PendingReply, 'resolve' | 'reject'> | undefined {
    const p = this.#pending.get(id)
    if (p === undefined) return undefined
    this.#pending.delete(id)
    clearTimeout(p.timer)
    return p
  }

  /** Rejects every pending request. */
  rejectAll(error: () => Error): void {
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer)
      p.reject(error())
      this.#pending.delete(id)
    }
  }
}

/** One forked stage process: its messages, its requests, how it ended. */
class StageProcess implements StageHandle {
  readonly name: string
  readonly stage: StageName
  readonly pid: number
  readonly logFile: string
  readonly #config: Config
  readonly #child: ChildProcess
  readonly #pending = new PendingReplies()
  readonly #groupListeners: ((g: GroupCommit) => void)[] = []
  readonly #journalListeners: ((g: GroupJournaled) => void)[] = []
  readonly #exit: Promise<void>
  #failure: string | undefined
  #exited = false
  #onReady: ((pid: number) => void) | undefined

  constructor(options: StartStageOptions, child: ChildProcess) {
    this.name = options.name ?? options.stage
    this.stage = options.stage
    this.pid = child.pid ?? 0
    this.logFile = options.logFile
    this.#config = options.config
    this.#child = child
    this.#exit = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.on('message', (raw) => this.#onMessage(raw as ChildMessage))
    child.once('exit', (code, signal) => {
      this.#exited = true
      this.#fail(`process exited (code ${code}, signal ${signal})`)
    })
  }

  request<T>(body: StageRequest, timeoutMs = 600_000): Promise<T> {
    if (this.#failure !== undefined) return Promise.reject(this.#stageEnded(this.#failure))
    const timedOut = (): Error =>
      new XrcError('XRC_TIMEOUT', {
        reason: 'stageAnswer',
        stage: this.name,
        op: body.op,
        timeoutMs,
        log: this.logFile,
      })
    const { id, reply } = this.#pending.add<T>(timeoutMs, timedOut)
    this.#post({ kind: 'request', id, body })
    return reply
  }

  committed(groupTime: number): void {
    this.#post({ kind: 'committed', groupTime })
  }

  onGroup(listener: (g: GroupCommit) => void): void {
    this.#groupListeners.push(listener)
  }

  onJournaled(listener: (g: GroupJournaled) => void): void {
    this.#journalListeners.push(listener)
  }

  async stop(timeoutMs = 30_000): Promise<void> {
    if (this.#exited) return
    const stopped = this.request({ op: 'stop' }, timeoutMs).catch(() => undefined)
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))
    await Promise.race([stopped.then(() => this.#exit), timedOut])
    clearTimeout(timer)
    if (!this.#exited) {
      this.#child.kill('SIGKILL')
      await this.#exit
    }
  }

  freeze(frozen: boolean): void {
    if (!this.#exited) this.#child.kill(frozen ? 'SIGSTOP' : 'SIGCONT')
  }

  kill(): void {
    if (!this.#exited) this.#child.kill('SIGKILL')
  }

  failure(): string | undefined {
    return this.#failure
  }

  /** Starts the stage's service; resolves once it is ready, rejects when the process exits or takes too long. */
  ready(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#child.kill('SIGKILL')
        reject(new XrcError('XRC_TIMEOUT', { reason: 'stageReady', stage: this.name, timeoutMs, log: this.logFile }))
      }, timeoutMs)
      this.#onReady = () => {
        clearTimeout(timer)
        resolve()
      }
      void this.#exit.then(() => {
        clearTimeout(timer)
        reject(
          new XrcError('XRC_SESSION_HALTED', {
            reason: 'stageExited',
            stage: this.name,
            problem: this.#failure ?? 'no reason given',
            log: this.logFile,
          }),
        )
      })
      this.#post({ kind: 'start', stage: this.stage, config: this.#config })
    })
  }

  #onMessage(m: ChildMessage): void {
    if (m.kind === 'ready') this.#onReady?.(m.pid)
    else if (m.kind === 'group') for (const l of this.#groupListeners) l(m)
    else if (m.kind === 'journaled') for (const l of this.#journalListeners) l(m)
    else if (m.kind === 'ended') this.#fail(m.error)
    else if (m.kind === 'reply') this.#onReply(m)
  }

  #onReply(m: Extract<ChildMessage, { kind: 'reply' }>): void {
    const p = this.#pending.take(m.id)
    if (p === undefined) return
    if (m.ok) p.resolve(m.value)
    else p.reject(new XrcError('XRC_SESSION_HALTED', { reason: 'stageFailed', stage: this.name, problem: m.error }))
  }

  /** The stage ended by itself (its service halted, or the process exited): every pending request fails. */
  #fail(reason: string): void {
    this.#failure ??= reason
    this.#pending.rejectAll(() => this.#stageEnded(reason))
  }

  #stageEnded(problem: string): XrcError {
    return new XrcError('XRC_SESSION_HALTED', {
      reason: 'stageEnded',
      stage: this.name,
      problem,
      log: this.logFile,
    })
  }

  #post(message: ParentMessage): void {
    if (!this.#exited && this.#child.connected) this.#child.send(message)
  }
}
