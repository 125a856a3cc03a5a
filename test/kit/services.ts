/**
 * xrc services as real child processes (`node dist/cli/main.js <service>`),
 * the way an operator runs them, so tests can SIGKILL, SIGSTOP and restart
 * them. Each child's stderr (its log) goes to a file kept for diagnosis.
 */
import { readFile } from 'node:fs/promises'
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { REPO_ROOT } from '../../stack/paths.js'
import { shortTail } from './logDigest.js'

export const CLI = resolve(REPO_ROOT, 'dist', 'cli', 'main.js')

export interface ServiceChild {
  name: string
  /** The JSON line the service printed when it was ready. */
  announced: Record<string, unknown>
  pid: number
  /** Starts the process and waits for its announcement; `env` adds variables for this start only (say, XRC_FAULT_POINT). */
  start(options?: { env?: Record<string, string> }): Promise<void>
  kill(signal: NodeJS.Signals): Promise<void>
  /** SIGTERM and wait for a clean exit; resolves with the exit code. */
  stop(): Promise<number | null>
  exited: () => boolean
  /** Resolves with the exit code (null after a signal) once the current process has exited. */
  waitExit(): Promise<number | null>
  logFile: string
  restarts: number
}

/** Writes a config file for the children of a test session. */
export function writeConfigFile(dir: string, settings: Record<string, unknown>): string {
  const file = join(dir, 'xrc-config.json')
  writeFileSync(file, JSON.stringify(settings, null, 2))
  return file
}

export function serviceChild(options: {
  service: 'primary' | 'mover' | 'applier'
  args?: string[]
  configFile: string
  dir: string
  name?: string
  readyTimeoutMs?: number
}): ServiceChild {
  const name = options.name ?? options.service
  const logFile = join(options.dir, `${name}.log`)
  let child: ChildProcess | undefined
  let exitedFlag = true
  let exitPromise: Promise<number | null> = Promise.resolve(null)
  const self: ServiceChild = {
    name,
    announced: {},
    pid: 0,
    logFile,
    restarts: -1,
    exited: () => exitedFlag,
    waitExit: () => exitPromise,
    async start(startOptions = {}) {
      const log = createWriteStream(logFile, { flags: 'a' })
      const env = startOptions.env ? { ...process.env, ...startOptions.env } : process.env
      child = spawn(process.execPath, [CLI, '--config', options.configFile, options.service, ...(options.args ?? [])], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env,
      })
      exitedFlag = false
      self.restarts++
      self.pid = child.pid ?? 0
      child.stderr?.pipe(log)
      exitPromise = new Promise((res) =>
        child?.once('exit', (code) => {
          exitedFlag = true
          res(code)
        }),
      )
      const lines = createInterface({ input: child.stdout! })
      self.announced = await new Promise<Record<string, unknown>>((res, rej) => {
        const timer = setTimeout(() => {
          // the log goes with the session's directory: its tail goes into the error
          void logTail(logFile).then((tail) =>
            rej(
              new Error(
                `${name} did not announce itself within ${options.readyTimeoutMs ?? 60_000} ms (log: ${logFile}):\n${tail}`,
              ),
            ),
          )
        }, options.readyTimeoutMs ?? 60_000)
        lines.once('line', (line) => {
          clearTimeout(timer)
          try {
            res(JSON.parse(line) as Record<string, unknown>)
          } catch {
            rej(new Error(`${name} printed "${line}" instead of its JSON announcement`))
          }
        })
        void exitPromise.then(async (code) => {
          clearTimeout(timer)
          // the log goes with the session's directory: its tail goes into the error
          const tail = await logTail(logFile)
          rej(new Error(`${name} exited with ${code} before it was ready (log: ${logFile}):\n${tail}`))
        })
      })
    },
    async kill(signal) {
      if (!child || exitedFlag) return
      child.kill(signal)
      if (signal === 'SIGKILL') await exitPromise
    },
    async stop() {
      if (!child || exitedFlag) return null
      child.kill('SIGTERM')
      return exitPromise
    },
  }
  return self
}

/** The last lines of a service's log, short (kit/logDigest.ts): what it said before it exited, or why they could not be read. */
async function logTail(file: string, lines = 20): Promise<string> {
  try {
    return shortTail(await readFile(file, 'utf8'), lines)
  } catch (err) {
    return `(log unreadable: ${String(err)})`
  }
}

/** The three services of a session as child processes, started from one config file, and their endpoints. */
export interface PipelineServices {
  configFile: string
  /** primary, mover, applier, in that order. */
  services: ServiceChild[]
  /** The primary's HTTP API. */
  api: string
  /** The mover's and the applier's /metrics and /health base URLs. */
  moverUrl: string
  applierUrl: string
}

/**
 * Writes the session's config file in `dir` and starts primary, mover and
 * applier from it (metrics on free ports), the primary first; `env` adds
 * variables for one of them (say, its own Kafka user).
 */
export async function startPipelineServices(
  dir: string,
  settings: Record<string, unknown>,
  env: Partial<Record<'primary' | 'mover' | 'applier', Record<string, string>>> = {},
): Promise<PipelineServices> {
  const configFile = writeConfigFile(dir, settings)
  const services = (['primary', 'mover', 'applier'] as const).map((service) =>
    serviceChild({ service, configFile, dir, args: service === 'primary' ? [] : ['--metrics-port', '0'] }),
  )
  for (const s of services) {
    const extra = env[s.name as keyof typeof env]
    await s.start(extra === undefined ? {} : { env: extra })
  }
  const base = (url: unknown): string => String(url).replace(/\/metrics$/, '')
  const [primary, mover, applier] = services
  return {
    configFile,
    services,
    api: String(primary?.announced.api),
    moverUrl: base(mover?.announced.metrics),
    applierUrl: base(applier?.announced.metrics),
  }
}
