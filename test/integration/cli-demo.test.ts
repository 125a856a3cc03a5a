/**
 * `xrc demo` as a user runs it: a child process, a short run, --json. It
 * must end with one JSON line saying the secondary verified, with plausible
 * figures, and exit 0; the human summary comes before it. The primary, the
 * mover and the applier run as processes of their own, and none is left
 * running when the demo ends: after a run, after Ctrl-C, and after the demo
 * itself is killed. A second run in the same named session is refused
 * (exit 2) unless --fresh.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { loadConfig } from '../../lib/config.js'
import { silentLogger } from '../../lib/logger.js'
import { waitFor } from '../../lib/retry.js'
import { removeSession, sessionNames } from '../../cli/sessionRemoval.js'
import { lastJsonLine, runCli, stackEnv } from '../kit/cli.js'
import { uniqueName } from '../kit/names.js'
import { CLI } from '../kit/services.js'

const session = uniqueName('demo')
const interrupted = uniqueName('demo-int')
const killed = uniqueName('demo-kill')
const dataDir = mkdtempSync(join(tmpdir(), 'xrc-demo-'))
const env = { ...stackEnv(), XRC_DATA_DIR: dataDir }
/** Service pids a test saw, killed in afterAll should a test fail with any still running. */
const seen = new Set<number>()

afterAll(async () => {
  for (const pid of seen) if (alive(pid)) process.kill(pid, 'SIGKILL')
  for (const name of [session, interrupted, killed]) {
    const config = loadConfig({ env, overrides: { session: { name } } })
    await removeSession(config, sessionNames(config), silentLogger)
  }
  rmSync(dataDir, { recursive: true, force: true })
})

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The services' pids from the demo's "pipeline:" line (primary, mover, applier). */
function pipelinePids(stdout: string): number[] | undefined {
  const m = /pipeline: primary \(pid (\d+),.* mover \(pid (\d+)\).* applier \(pid (\d+)\)/.exec(stdout)
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined
}

/** Starts `xrc demo` and resolves with the services' pids once its pipeline runs. */
function startDemo(args: readonly string[]): {
  pid: number
  stdout: () => string
  pids: Promise<number[]>
  exited: Promise<number | null>
} {
  const { LOG_LEVEL: _l, XRC_SESSION: _s, XRC_DATA_DIR: _d, ...base } = process.env
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stderr.on('data', (b: Buffer) => (err += b.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const pids = new Promise<number[]>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString()
      const found = pipelinePids(out)
      if (found) {
        for (const pid of found) seen.add(pid)
        resolve(found)
      }
    })
    void exited.then(() => reject(new Error(`the demo ended before its pipeline ran:\n${out}\n${err}`)))
  })
  return { pid: child.pid ?? 0, stdout: () => out, pids, exited }
}

async function noneAlive(pids: readonly number[], timeoutMs: number): Promise<void> {
  await waitFor('the services to exit', () => (pids.some(alive) ? undefined : true), { timeoutMs, intervalMs: 100 })
}

interface DemoStage {
  pid: number
  log: string
}

interface DemoLine {
  pid: number
  stages: { primary: DemoStage; mover: DemoStage; applier: DemoStage }
  writes: number
  groups: number
  consistencyTime: number
  rpoMs: { p50: number; p99: number }
  verified: boolean
  mixedStates: number
  volumesIdentical: number
  volumes: number
}

it('mirrors a short dependent-write run and verifies every volume (--json, exit 0)', async () => {
  const started = Date.now() * 1000
  const r = await runCli(['--session', session, 'demo', '--duration', '4s', '--volume-blocks', '256', '--json'], {
    env,
    timeoutMs: 120_000,
  })
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0)
  // the demo's logs go to its log file: nothing alarming reaches the user's terminal
  expect(r.stderr).not.toMatch(/"level":(50|60)|\n\s+at .+:\d+:\d+/)
  const line = lastJsonLine<DemoLine>(r)
  console.log(`demo --json: ${JSON.stringify(line)}`)
  expect(line.verified).toBe(true)
  expect(line.mixedStates).toBe(0)
  expect(line.volumesIdentical).toBe(8)
  expect(line.volumes).toBe(8)
  // 4 s of dependent writes: hundreds on a quiet machine, 165 seen at load 30 (the bound says writes went on, not how fast)
  expect(line.writes).toBeGreaterThan(40)
  expect(line.groups).toBeGreaterThan(10)
  expect(line.consistencyTime).toBeGreaterThan(started)
  expect(line.rpoMs.p50).toBeGreaterThan(0)
  expect(line.rpoMs.p99).toBeGreaterThanOrEqual(line.rpoMs.p50)
  expect(line.rpoMs.p99).toBeLessThan(10_000)
  expect(r.stdout).toMatch(/VERIFIED: session/)
  expect(r.stdout).toMatch(/8\/8 byte-identical to the primary/)
  // each stage ran in a process of its own, and none outlives the demo
  const pids = [line.stages.primary.pid, line.stages.mover.pid, line.stages.applier.pid]
  for (const pid of pids) seen.add(pid)
  expect(new Set([line.pid, ...pids]).size).toBe(4)
  for (const pid of pids) expect(pid).toBeGreaterThan(0)
  expect(pipelinePids(r.stdout)).toEqual(pids)
  expect(pids.filter(alive)).toEqual([])
  for (const stage of Object.values(line.stages)) {
    expect(existsSync(stage.log), stage.log).toBe(true)
    expect(statSync(stage.log).size).toBeGreaterThan(0)
  }
}, 150_000)

it('stops the services when Ctrl-C stops the writers, after it caught up and verified', async () => {
  const demo = startDemo(['--session', interrupted, 'demo', '--duration', '5m', '--volume-blocks', '64', '--json'])
  const pids = await demo.pids
  expect(pids).not.toContain(demo.pid)
  // a terminal's Ctrl-C goes to the demo's process group; the services run in groups of their own
  await new Promise((r) => setTimeout(r, 2000))
  process.kill(demo.pid, 'SIGINT')
  expect(await demo.exited, demo.stdout()).toBe(0)
  expect(demo.stdout()).toMatch(/VERIFIED: session/)
  expect(pids.filter(alive)).toEqual([])
}, 150_000)

it('leaves no service running when the demo itself is killed', async () => {
  const demo = startDemo(['--session', killed, 'demo', '--duration', '5m', '--volume-blocks', '64'])
  const pids = await demo.pids
  process.kill(demo.pid, 'SIGKILL')
  await demo.exited
  // each service stops when its channel to the demo closes (within its own 20 s grace at most)
  await noneAlive(pids, 30_000)
}, 150_000)

it('refuses to reuse a named session that holds data, without --fresh (exit 2, one message)', async () => {
  const r = await runCli(['--session', session, 'demo', '--duration', '1s'], { env })
  expect(r.code).toBe(2)
  expect(r.stderr).toMatch(new RegExp(`session ${session} already has data .*--fresh`))
  expect(r.stderr).not.toMatch(/\n\s+at /)
})
