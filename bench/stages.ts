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
  const name = options.name ?? options.stage
  const logFd = openSync(options.logFile, 'a')
  let child: ChildProcess
  try {
    child = fork(STAGE_SCRIPT, [], {
      serialization: 'advanced',
      stdio: ['ignore', logFd, logFd, 'ipc'],
      execArgv: options.execArgv ?? [],
    })
  } finally {
    closeSync(logFd) // the child holds its own copy
  }
  const pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >()
  const groupListeners: ((g: GroupCommit) => void)[] = []
  const journalListeners: ((g: GroupJournaled) => void)[] = []
  let nextId = 1
  let failure: string | undefined
  let exited = false
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()))

  const stageEnded = (problem: string): XrcError =>
    new XrcError('XRC_SESSION_HALTED', { reason: 'stageEnded', stage: name, problem, log: options.logFile })
  const fail = (reason: string): void => {
    failure ??= reason
    for (const [id, p] of pending) {
      clearTimeout(p.timer)
      p.reject(stageEnded(reason))
      pending.delete(id)
    }
  }
  let onReady: ((pid: number) => void) | undefined
  child.on('message', (raw) => {
    const m = raw as ChildMessage
    if (m.kind === 'ready') onReady?.(m.pid)
    else if (m.kind === 'group') for (const l of groupListeners) l(m)
    else if (m.kind === 'journaled') for (const l of journalListeners) l(m)
    else if (m.kind === 'ended') fail(m.error)
    else if (m.kind === 'reply') {
      const p = pending.get(m.id)
      if (p === undefined) return
      pending.delete(m.id)
      clearTimeout(p.timer)
      if (m.ok) p.resolve(m.value)
      else p.reject(new XrcError('XRC_SESSION_HALTED', { reason: 'stageFailed', stage: name, problem: m.error }))
    }
  })
  child.once('exit', (code, signal) => {
    exited = true
    fail(`process exited (code ${code}, signal ${signal})`)
  })

  const post = (message: ParentMessage): void => {
    if (!exited && child.connected) child.send(message)
  }
  const handle: StageHandle = {
    name,
    stage: options.stage,
    pid: child.pid ?? 0,
    logFile: options.logFile,
    request<T>(body: StageRequest, timeoutMs = 600_000): Promise<T> {
      if (failure !== undefined) return Promise.reject(stageEnded(failure))
      const id = nextId++
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id)
          reject(
            new XrcError('XRC_TIMEOUT', {
              reason: 'stageAnswer',
              stage: name,
              op: body.op,
              timeoutMs,
              log: options.logFile,
            }),
          )
        }, timeoutMs)
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer })
        post({ kind: 'request', id, body })
      })
    },
    committed: (groupTime) => post({ kind: 'committed', groupTime }),
    onGroup: (listener) => void groupListeners.push(listener),
    onJournaled: (listener) => void journalListeners.push(listener),
    async stop(timeoutMs = 30_000) {
      if (exited) return
      const stopped = handle.request({ op: 'stop' }, timeoutMs).catch(() => undefined)
      let timer: NodeJS.Timeout | undefined
      const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))
      await Promise.race([stopped.then(() => exit), timedOut])
      clearTimeout(timer)
      if (!exited) {
        child.kill('SIGKILL')
        await exit
      }
    },
    freeze(frozen) {
      if (!exited) child.kill(frozen ? 'SIGSTOP' : 'SIGCONT')
    },
    kill() {
      if (!exited) child.kill('SIGKILL')
    },
    failure: () => failure,
  }

  const readyTimeout = options.readyTimeoutMs ?? 90_000
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(
        new XrcError('XRC_TIMEOUT', {
          reason: 'stageReady',
          stage: name,
          timeoutMs: readyTimeout,
          log: options.logFile,
        }),
      )
    }, readyTimeout)
    onReady = () => {
      clearTimeout(timer)
      resolve()
    }
    void exit.then(() => {
      clearTimeout(timer)
      reject(
        new XrcError('XRC_SESSION_HALTED', {
          reason: 'stageExited',
          stage: name,
          problem: failure ?? 'no reason given',
          log: options.logFile,
        }),
      )
    })
    post({ kind: 'start', stage: options.stage, config: options.config })
  })
  return handle
}
