/**
 * `xrc demo` as a user runs it: a child process, a short run, --json. It
 * must end with one JSON line saying the secondary verified, with plausible
 * figures, and exit 0; the human summary comes before it. A second run in
 * the same named session is refused (exit 2) unless --fresh.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { loadConfig } from '../../lib/config.js'
import { silentLogger } from '../../lib/logger.js'
import { removeSession, sessionNames } from '../../cli/sessionRemoval.js'
import { lastJsonLine, runCli, stackEnv } from '../kit/cli.js'
import { uniqueName } from '../kit/names.js'

const session = uniqueName('demo')
const dataDir = mkdtempSync(join(tmpdir(), 'xrc-demo-'))
const env = { ...stackEnv(), XRC_DATA_DIR: dataDir }

afterAll(async () => {
  const config = loadConfig({ env, overrides: { session: { name: session } } })
  await removeSession(config, sessionNames(config), silentLogger)
  rmSync(dataDir, { recursive: true, force: true })
})

interface DemoLine {
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
  expect(line.writes).toBeGreaterThan(200)
  expect(line.groups).toBeGreaterThan(10)
  expect(line.consistencyTime).toBeGreaterThan(started)
  expect(line.rpoMs.p50).toBeGreaterThan(0)
  expect(line.rpoMs.p99).toBeGreaterThanOrEqual(line.rpoMs.p50)
  expect(line.rpoMs.p99).toBeLessThan(10_000)
  expect(r.stdout).toMatch(/VERIFIED: session/)
  expect(r.stdout).toMatch(/8\/8 byte-identical to the primary/)
}, 150_000)

it('refuses to reuse a named session that holds data, without --fresh (exit 2, one message)', async () => {
  const r = await runCli(['--session', session, 'demo', '--duration', '1s'], { env })
  expect(r.code).toBe(2)
  expect(r.stderr).toMatch(new RegExp(`session ${session} already has data .*--fresh`))
  expect(r.stderr).not.toMatch(/\n\s+at /)
})
