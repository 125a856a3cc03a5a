/**
 * Who may use the primary's HTTP API (issue 15), against `xrc primary` run
 * as an operator runs it, with its token in XRC_PRIMARY_API_TOKEN:
 *   - every request but /health and /metrics needs the bearer token (401
 *     with a JSON error and a Bearer challenge otherwise);
 *   - a Host that is not one of the API's names is refused (403), against
 *     DNS rebinding;
 *   - a read beyond producer.apiMaxReadBytes is refused naming the limit;
 *   - the CLI sends the token from the same environment (xrc write, xrc
 *     status), and says what is wrong without it;
 *   - the token is in no log line and no output;
 *   - every file the primary made is 0600;
 *   - on an address other than loopback without a token, it does not start.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile, stat } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { lastJsonLine, runCli, stackEnv } from '../kit/cli.js'
import { serviceChild, writeConfigFile, type ServiceChild } from '../kit/services.js'
import { createTestSession, type TestSession } from '../kit/session.js'

const BS = 4096
const TOKEN = randomBytes(24).toString('hex')
let session: TestSession
let configFile: string
let primary: ServiceChild
let api: string

beforeAll(async () => {
  session = createTestSession({
    controllers: 1,
    volumesPerController: 1,
    blocks: 64,
    extra: { producer: { apiMaxReadBytes: 64 * 1024 } },
  })
  configFile = writeConfigFile(session.dataDir, session.settings)
  primary = serviceChild({ service: 'primary', configFile, dir: session.dataDir })
  // debug: the more it logs, the more places the token could leak to
  await primary.start({ env: { XRC_PRIMARY_API_TOKEN: TOKEN, LOG_LEVEL: 'debug' } })
  api = String(primary.announced.api)
})

afterAll(async () => {
  await primary?.stop()
  await session?.cleanup()
})

const bearer = (token = TOKEN): { authorization: string } => ({ authorization: `Bearer ${token}` })

/** A GET with a Host header of our choosing (fetch sets its own). */
function getWithHost(
  path: string,
  host: string,
): Promise<{ status: number; body: { code?: string; message?: string } }> {
  return new Promise((resolve, reject) => {
    const req = request(`${api}${path}`, { headers: { host, ...bearer() } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) as never })
        } catch (err) {
          reject(err as Error)
        }
      })
    })
    req.once('error', reject)
    req.end()
  })
}

describe("the primary's HTTP API with a token", () => {
  it('answers 401 with a JSON error and a Bearer challenge without the token or with another one', async () => {
    const cases: [string, RequestInit, string][] = [
      ['/v1/status', {}, 'needs a bearer token'],
      ['/v1/status', { headers: bearer('0'.repeat(48)) }, 'token was refused'],
      ['/v1/volumes/c0v0/blocks/0', { method: 'POST', body: Buffer.alloc(BS, 1) }, 'needs a bearer token'],
      ['/v1/volumes/c0v0/blocks/0', {}, 'needs a bearer token'],
      ['/v1/suspend', { method: 'POST', headers: { authorization: `Basic ${TOKEN}` } }, 'needs a bearer token'],
      ['/v2/unknown', {}, 'needs a bearer token'],
    ]
    for (const [path, init, message] of cases) {
      const res = await fetch(`${api}${path}`, init)
      const body = (await res.json()) as { code: string; message: string }
      expect({ path, status: res.status, code: body.code }).toEqual({ path, status: 401, code: 'XRC_API_UNAUTHORIZED' })
      expect(body.message).toContain(message)
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /)
    }
    // nothing was suspended and nothing written
    const status = (await (await fetch(`${api}/v1/status`, { headers: bearer() })).json()) as {
      mirror: { state: string }
      controllers: { nextSeq: number }[]
    }
    expect(status.mirror.state).toBe('duplex')
    expect(status.controllers[0]?.nextSeq).toBe(1)
  })

  it('serves /health and /metrics without the token', async () => {
    expect((await fetch(`${api}/health`)).status).toBe(200)
    const metrics = await fetch(`${api}/metrics`)
    expect(metrics.status).toBe(200)
    expect(await metrics.text()).toContain('xrc_producer_')
  })

  it('writes and reads with the token', async () => {
    const data = randomBytes(2 * BS)
    const w = await fetch(`${api}/v1/volumes/c0v0/blocks/4`, { method: 'POST', body: data, headers: bearer() })
    expect(w.status).toBe(200)
    const r = await fetch(`${api}/v1/volumes/c0v0/blocks/4?count=2`, { headers: bearer() })
    expect(r.status).toBe(200)
    expect(Buffer.from(await r.arrayBuffer()).equals(data)).toBe(true)
  })

  it('refuses a Host that is not one of its names with 403, naming the setting', async () => {
    const port = new URL(api).port
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`])
      expect({ host, status: (await getWithHost('/v1/status', host)).status }).toEqual({ host, status: 200 })
    for (const host of [`rebound.example:${port}`, 'attacker.test', `0.0.0.0:${port}`]) {
      const res = await getWithHost('/v1/status', host)
      expect({ host, status: res.status, code: res.body.code }).toEqual({
        host,
        status: 403,
        code: 'XRC_API_HOST_REFUSED',
      })
      expect(res.body.message).toContain('producer.apiAllowedHosts')
    }
    // the Host check comes before the open paths: a rebound page reads no metrics either
    expect((await getWithHost('/metrics', 'rebound.example')).status).toBe(403)
  })

  it('refuses a read beyond producer.apiMaxReadBytes with 400 naming the limit', async () => {
    const ok = await fetch(`${api}/v1/volumes/c0v0/blocks/0?count=16`, { headers: bearer() })
    expect(ok.status).toBe(200)
    expect((await ok.arrayBuffer()).byteLength).toBe(16 * BS)
    const res = await fetch(`${api}/v1/volumes/c0v0/blocks/0?count=17`, { headers: bearer() })
    const body = (await res.json()) as { code: string; message: string }
    expect({ status: res.status, code: body.code }).toEqual({ status: 400, code: 'XRC_USAGE' })
    expect(body.message).toContain('producer.apiMaxReadBytes (65536 bytes): read at most 16 blocks')
  })

  it('is used by the CLI with the token from XRC_PRIMARY_API_TOKEN, and refuses it without', async () => {
    const env = { ...stackEnv(), XRC_PRIMARY_API_TOKEN: TOKEN }
    const args = ['--config', configFile]
    const input = randomBytes(BS)
    const written = await runCli([...args, 'write', 'c0v0', '9', '--primary', api, '--json'], { env, input })
    expect(written.code).toBe(0)
    expect(lastJsonLine(written)).toMatchObject({ volume: 'c0v0', block: 9, blocks: 1 })

    const refused = await runCli([...args, 'write', 'c0v0', '9', '--primary', api], { env: stackEnv(), input })
    expect(refused.code).not.toBe(0)
    expect(refused.stderr).toMatch(/answered 401: the primary's HTTP API needs a bearer token.*XRC_API_UNAUTHORIZED/)

    const status = await runCli([...args, 'status', '--primary', api, '--json'], { env })
    const s = lastJsonLine<{ unavailable: string[]; controllers: { id: number; primary?: { nextSeq: number } }[] }>(
      status,
    )
    expect(s.unavailable.filter((u) => u.startsWith('primary:'))).toEqual([])
    expect(s.controllers[0]?.primary?.nextSeq).toBeGreaterThan(1)
    const unauthorized = await runCli([...args, 'status', '--primary', api, '--json'], { env: stackEnv() })
    const u = lastJsonLine<{ unavailable: string[] }>(unauthorized)
    expect(u.unavailable.join('\n')).toMatch(/primary: no answer at .*answered HTTP 401: .*bearer token/)

    for (const r of [written, refused, status, unauthorized]) expect(r.stdout + r.stderr).not.toContain(TOKEN)
  })

  it('keeps the token out of its log', async () => {
    const log = await readFile(primary.logFile, 'utf8')
    expect(log).toContain('HTTP API listening')
    expect(log).not.toContain(TOKEN)
  })

  it('made every one of its files 0600', async () => {
    const files = await listFiles(session.dataDir, (name) => name !== 'xrc-config.json' && !name.endsWith('.log'))
    const kinds = files.map((f) =>
      f
        .slice(session.dataDir.length)
        .replace(/\/s_[^/]+\//, '')
        .replace(/\d{20}/, 'N'),
    )
    // the volume, the change bitmap, a sidefile segment and the controller's state
    expect(kinds).toEqual(
      expect.arrayContaining([
        'primary/c0v0.img',
        'primary/controller-0/changes/c0v0.pending',
        'primary/controller-0/sidefile/N.seg',
        'primary/controller-0/state.json',
      ]),
    )
    for (const f of files) expect({ f, mode: ((await stat(f)).mode & 0o777).toString(8) }).toEqual({ f, mode: '600' })
  })
})

describe("the primary's HTTP API beyond loopback", () => {
  it('does not start without a token, saying which setting to set', async () => {
    const dir = await mkdtemp(join(session.dataDir, 'unprotected-'))
    const file = writeConfigFile(dir, { ...session.settings, producer: { apiPort: 0, apiHost: '0.0.0.0' } })
    const r = await runCli(['--config', file, 'primary'], { env: stackEnv(), timeoutMs: 30_000 })
    expect(r.code).not.toBe(0)
    expect(r.stderr).toMatch(/refusing to start the primary's HTTP API on 0\.0\.0\.0.*producer\.apiToken/)
    expect(r.stderr).toContain('XRC_API_UNPROTECTED')
    expect(r.stdout).toBe('')
  })
})

/** Files under `dir` (recursively) whose name passes `keep`; sockets are not files. */
async function listFiles(dir: string, keep: (name: string) => boolean): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, e.name)
    if (e.isDirectory()) out.push(...(await listFiles(path, keep)))
    else if (e.isFile() && keep(e.name)) out.push(path)
  }
  return out
}
