/**
 * Runs the `xrc` command as a user does: a child process of the built CLI
 * (dist/cli/main.js), its stdout, stderr and exit code captured.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { CLI } from './services.js'
import { stackInfo } from './servers.js'

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

export interface CliOptions {
  /** Added to the environment (the test stack's addresses are there already). */
  env?: Record<string, string>
  cwd?: string
  /** Bytes on stdin (closed at once otherwise). */
  input?: Buffer
  timeoutMs?: number
  /** Node's own options, before the CLI's path (e.g. --import). */
  nodeArgs?: readonly string[]
}

/** The environment that points a child at the integration stack (local or containers). */
export function stackEnv(): Record<string, string> {
  const s = stackInfo()
  return { KAFKA_BROKERS: s.kafkaBrokers.join(','), SCHEMA_REGISTRY_URL: s.registryUrl, DATABASE_URL: s.databaseUrl }
}

export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    // LOG_LEVEL and friends from the developer's shell must not change what the test sees
    const { LOG_LEVEL: _l, XRC_SESSION: _s, XRC_DATA_DIR: _d, ...base } = process.env
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), CLI, ...args], {
      cwd: options.cwd,
      env: { ...base, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (b: Buffer) => out.push(b))
    child.stderr.on('data', (b: Buffer) => err.push(b))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(
        new Error(
          `xrc ${args.join(' ')} did not finish within ${options.timeoutMs ?? 60_000} ms; stderr: ${Buffer.concat(err).toString().slice(-2000)}`,
        ),
      )
    }, options.timeoutMs ?? 60_000)
    child.once('error', reject)
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() })
    })
    child.stdin.end(options.input)
  })
}

/** The last non-empty line of stdout, parsed as JSON. */
export function lastJsonLine<T = Record<string, unknown>>(r: CliResult): T {
  const line = r.stdout.trim().split('\n').pop() ?? ''
  try {
    return JSON.parse(line) as T
  } catch {
    throw new Error(`the last stdout line is not JSON: ${line}\nstderr: ${r.stderr.slice(-2000)}`)
  }
}

/** test/kit/loadedModules.ts as built, beside the CLI. */
const MODULE_RECORDER = join(dirname(CLI), '..', 'test', 'kit', 'loadedModules.js')

/** Runs `xrc args` as runCli does, with the path of every module it loaded (test/kit/loadedModules.ts). */
export async function modulesLoadedBy(
  args: readonly string[],
  options: CliOptions = {},
): Promise<{ result: CliResult; modules: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'xrc-modules-'))
  try {
    const file = join(dir, 'modules.txt')
    const result = await runCli(args, {
      ...options,
      nodeArgs: ['--import', MODULE_RECORDER, ...(options.nodeArgs ?? [])],
      env: { ...options.env, TEST_LOADED_MODULES: file },
    })
    return {
      result,
      modules: readFileSync(file, 'utf8')
        .split('\n')
        .filter((line) => line !== ''),
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
