/**
 * Runs an `xrc` service (`xrc primary`, `xrc mover`, `xrc applier`) as a
 * child process of the same build: `node <this build>/cli/main.js --config
 * <file> --session <name> <service> ...`, each with its own event loop, the
 * way an operator runs them. Used by `xrc demo`.
 *
 * - Its configuration is the config file alone: the variables of ENV_VARS
 *   are taken out of its environment, so it runs exactly what the parent
 *   resolved and wrote to the file.
 * - Its logs (stderr, and stdout after the ready line) go to `logFile`.
 * - It is ready when it prints its ready line (one JSON object on stdout,
 *   cli/runService.ts); that line's fields (URLs, pid) are kept.
 * - It runs in a process group of its own, so the Ctrl-C a terminal sends
 *   to the parent's group does not reach it: the parent decides when it
 *   stops. It holds an IPC channel to the parent, and runService stops it
 *   when that channel closes: a parent that dies, even by SIGKILL, leaves
 *   no service running.
 * - stop() sends SIGTERM, waits `boundMs`, then sends SIGKILL, and resolves
 *   once the process has exited. The parent's own exit sends SIGTERM to
 *   every child still running (a second Ctrl-C).
 * - A child that exits while the parent still needs it is a failure naming
 *   the service, its pid, its exit code (or signal) and its log file.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, openSync, writeSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { ENV_VARS } from '../lib/config.js'
import { XrcError } from '../lib/errors.js'

/** The `xrc` entry point of this build (dist/cli/main.js beside this file once built). */
export const XRC_MAIN = fileURLToPath(new URL('./main.js', import.meta.url))

export type ServiceName = 'primary' | 'mover' | 'applier'

/** How a service process exited. */
export interface ServiceExit {
  code: number | null
  signal: NodeJS.Signals | null
}

/** One service process, seen from its parent. */
export interface ServiceProcess {
  readonly service: ServiceName
  readonly pid: number
  readonly logFile: string
  /** The fields of its ready line (api, metrics, nbd...). */
  readonly ready: Readonly<Record<string, unknown>>
  /** Resolves when the process has exited. */
  readonly exited: Promise<ServiceExit>
  /** How it exited, once it has. */
  exit(): ServiceExit | undefined
  /**
   * Throws XRC_SESSION_HALTED naming the service, its exit code and its log when it exited while it was still
   * needed (before stop() was called).
   */
  check(): void
  /** SIGTERM, `boundMs` at most for it to stop by itself, then SIGKILL; resolves once it has exited. Idempotent. */
  stop(boundMs?: number): Promise<ServiceExit>
}

export interface StartServiceOptions {
  service: ServiceName
  /** The JSON config file the service runs with. */
  configFile: string
  session: string
  /** Arguments after the service's name (e.g. ['--api-port', '0']). */
  args?: readonly string[]
  logFile: string
  /** How long to wait for its ready line. */
  readyTimeoutMs?: number
}

/** Default bound of stop(): below runService's own grace (20 s), so a stuck service is killed by us first. */
export const SERVICE_STOP_BOUND_MS = 15_000

const running = new Map<ChildProcess, () => Promise<ServiceExit>>()
let exitHookInstalled = false

/** Stops every service process still running (a second Ctrl-C): each as stop() does. */
export async function stopServices(): Promise<void> {
  await Promise.all([...running.values()].map((stop) => stop().catch(() => undefined)))
}

/** On the parent's exit (process.exit after a second Ctrl-C): SIGTERM to every child still running. */
function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const child of running.keys()) child.kill('SIGTERM')
  })
}

/** The parent's environment without the settings of ENV_VARS: the config file is the whole configuration. */
function serviceEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env }
  for (const key of Object.keys(ENV_VARS)) delete env[key]
  return env
}

function describeExit(e: ServiceExit): string {
  return e.signal !== null ? `signal ${e.signal}` : `code ${e.code}`
}

/** Starts a service process and resolves once it printed its ready line. */
export async function startServiceProcess(options: StartServiceOptions): Promise<ServiceProcess> {
  const { service, logFile } = options
  installExitHook()
  const logFd = openSync(logFile, 'a')
  let child: ChildProcess
  try {
    child = spawn(
      process.execPath,
      [XRC_MAIN, '--config', options.configFile, '--session', options.session, service, ...(options.args ?? [])],
      { env: serviceEnv(), stdio: ['ignore', 'pipe', logFd, 'ipc'], detached: true },
    )
  } catch (err) {
    closeSync(logFd)
    throw err
  }
  // the IPC channel must not keep the parent alive once it is done with the child
  child.channel?.unref()
  const pid = child.pid ?? 0
  let exitInfo: ServiceExit | undefined
  let stopping: Promise<ServiceExit> | undefined
  const exited = new Promise<ServiceExit>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal }
      running.delete(child)
      resolve(exitInfo)
    })
  })
  const stop = (boundMs = SERVICE_STOP_BOUND_MS): Promise<ServiceExit> =>
    (stopping ??= stopChild(child, exited, boundMs))
  running.set(child, () => stop())
  // after the ready line, anything on stdout belongs in the log too
  let onReadyLine: ((fields: Record<string, unknown>) => void) | undefined
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
  lines.on('line', (line) => {
    if (onReadyLine !== undefined) {
      try {
        const fields = JSON.parse(line) as Record<string, unknown>
        const ready = onReadyLine
        onReadyLine = undefined
        return ready(fields)
      } catch {
        // not the ready line: a log line
      }
    }
    writeSync(logFd, `${line}\n`)
  })
  lines.once('close', () => closeSync(logFd))

  const exitedError = (e: ServiceExit): XrcError =>
    new XrcError('XRC_SESSION_HALTED', {
      reason: 'serviceExited',
      stage: service,
      pid,
      how: describeExit(e),
      log: logFile,
    })

  const readyTimeoutMs = options.readyTimeoutMs ?? 90_000
  let ready: Record<string, unknown>
  try {
    ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new XrcError('XRC_TIMEOUT', {
              reason: 'serviceReady',
              stage: service,
              pid,
              timeoutMs: readyTimeoutMs,
              log: logFile,
            }),
          ),
        readyTimeoutMs,
      )
      onReadyLine = (fields) => {
        clearTimeout(timer)
        resolve(fields)
      }
      void exited.then((e) => {
        clearTimeout(timer)
        reject(exitedError(e))
      })
    })
  } catch (err) {
    await stop()
    throw err
  }

  return {
    service,
    pid,
    logFile,
    ready,
    exited,
    exit: () => exitInfo,
    check() {
      if (exitInfo !== undefined && stopping === undefined) throw exitedError(exitInfo)
    },
    stop,
  }
}

async function stopChild(child: ChildProcess, exited: Promise<ServiceExit>, boundMs: number): Promise<ServiceExit> {
  if (child.exitCode !== null || child.signalCode !== null) return exited
  child.kill('SIGTERM')
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), boundMs)))
  const first = await Promise.race([exited, late])
  clearTimeout(timer)
  if (first === 'late') {
    // the whole group (its own, detached): the service and anything it may have started
    const pid = child.pid ?? 0
    try {
      if (pid > 0) process.kill(-pid, 'SIGKILL')
      else child.kill('SIGKILL')
    } catch {
      child.kill('SIGKILL')
    }
  }
  return exited
}
