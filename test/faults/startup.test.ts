/**
 * Start-up with something wrong, as an operator meets it: `xrc mover` and
 * `xrc applier` with an unreachable broker, registry or database end with
 * exit code 1 and one clear last line naming what is wrong and the setting
 * (no stack trace, no hang); bad configuration ends with exit code 2 naming
 * the setting; `xrc primary` with an unreachable broker still starts and
 * takes writes (the primary never waits for the mirror) and says in its
 * status why nothing is sent.
 */
import { execFile, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import pg from 'pg'
import { defaultSchemaName } from '../../lib/config.js'
import { ident } from '../../lib/postgres.js'
import { sessionTopics } from '../../schemas/topicNames.js'
import { uniqueName } from '../kit/names.js'
import { freePort } from '../kit/ports.js'
import { stackInfo, testKafka } from '../kit/servers.js'
import { CLI } from '../kit/services.js'

const dir = mkdtempSync(join(tmpdir(), 'xrc-startup-'))
const session = uniqueName('su')
let closedPort = 0
const kafka = testKafka()

beforeAll(async () => {
  closedPort = await freePort()
  // the mover waits for the updates topic before it asks the registry: let it find one
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic: sessionTopics(session).updates, numPartitions: 1 }],
  })
  await admin.disconnect()
})

afterAll(async () => {
  const admin = kafka.admin()
  await admin.connect()
  const existing = new Set(await admin.listTopics())
  await admin.deleteTopics({ topics: Object.values(sessionTopics(session)).filter((t) => existing.has(t)) })
  await admin.disconnect()
  // the applier that started made its store in the session's default schema
  const client = new pg.Client({ connectionString: stackInfo().databaseUrl })
  await client.connect()
  await client.query(`DROP SCHEMA IF EXISTS ${ident(defaultSchemaName(session))} CASCADE`)
  await client.end()
  rmSync(dir, { recursive: true, force: true })
})

function configFile(name: string, settings: Record<string, unknown>): string {
  const info = stackInfo()
  const file = join(dir, `${name}.json`)
  const base = {
    kafka: { brokers: info.kafkaBrokers },
    schemaRegistry: { url: info.registryUrl },
    database: { url: info.databaseUrl },
    session: {
      name: session,
      dataDir: join(dir, 'data'),
      controllers: [{ id: 0, volumes: [{ name: 'v0', blocks: 8 }] }],
    },
    producer: { apiPort: 0 },
    // the runs go side by side: any free metrics port, not the fixed defaults
    mover: { metricsPort: 0 },
    applier: { metricsPort: 0 },
  }
  writeFileSync(file, JSON.stringify({ ...base, ...settings }))
  return file
}

async function xrc(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; lastLine: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { timeout: 90_000, env: { ...process.env, ...env } },
      (err, _stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1
        resolve({ code, lastLine: stderr.trim().split('\n').pop() ?? '', stderr })
      },
    )
  })
}

describe('start-up with something wrong', () => {
  it('mover and applier: one clear message naming the unreachable server and its setting, exit code 1', async () => {
    const noKafka = configFile('no-kafka', { kafka: { brokers: [`127.0.0.1:${closedPort}`] } })
    const noRegistry = configFile('no-registry', {
      schemaRegistry: { url: `http://127.0.0.1:${closedPort}/apis/ccompat/v7` },
    })
    const noDatabase = configFile('no-database', {
      database: { url: `postgres://postgres:secret@127.0.0.1:${closedPort}/postgres` },
    })
    const quiet = ['--log-level', 'silent']
    const runs = await Promise.all([
      xrc(['--config', noKafka, ...quiet, 'mover']),
      xrc(['--config', noKafka, ...quiet, 'applier']),
      xrc(['--config', noRegistry, ...quiet, 'mover']),
      xrc(['--config', noRegistry, ...quiet, 'applier']),
      xrc(['--config', noDatabase, ...quiet, 'applier']),
    ])
    const expected = [
      /^xrc: no Kafka broker answers at 127\.0\.0\.1:\d+ \(kafka\.brokers, KAFKA_BROKERS\): .*ECONNREFUSED.* \[XRC_KAFKA_UNREACHABLE\]$/,
      /^xrc: no Kafka broker answers at 127\.0\.0\.1:\d+ \(kafka\.brokers, KAFKA_BROKERS\): .*ECONNREFUSED.* \[XRC_KAFKA_UNREACHABLE\]$/,
      /^xrc: could not register schema under xrc\..*\.(updates|journal)-value at http:\/\/127\.0\.0\.1:\d+\/apis\/ccompat\/v7 \(schemaRegistry\.url, SCHEMA_REGISTRY_URL\): .* \[XRC_REGISTRY_UNREACHABLE\]$/,
      /^xrc: could not register schema under xrc\..*\.journal-value at http:\/\/127\.0\.0\.1:\d+\/apis\/ccompat\/v7 \(schemaRegistry\.url, SCHEMA_REGISTRY_URL\): .* \[XRC_REGISTRY_UNREACHABLE\]$/,
      /^xrc: PostgreSQL does not answer at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/postgres \(database\.url, DATABASE_URL\): .*ECONNREFUSED.* \[XRC_POSTGRES_UNREACHABLE\]$/,
    ]
    runs.forEach((r, i) => {
      expect(r.code, r.stderr).toBe(1)
      expect(r.lastLine).toMatch(expected[i] as RegExp)
      expect(r.stderr).not.toMatch(/^\s+at /m) // no stack trace
      expect(r.stderr).not.toContain('secret')
    })
  }, 120_000)

  it('bad configuration: exit code 2 and a message naming each bad setting', async () => {
    const unknown = configFile('unknown', { mover: { groupIntervalMs: -5, nonsense: 1 } })
    const r = await xrc(['--config', unknown, 'mover'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/mover\.groupIntervalMs: /)
    expect(r.stderr).toMatch(/mover\.nonsense: unknown setting/)
    const fault = await xrc(['--config', configFile('ok', {}), 'applier'], {
      XRC_FAULT_POINT: 'applier.somewhere:explode',
    })
    expect(fault.code).toBe(2)
    expect(fault.stderr).toMatch(/faults\.point: <point>:<kill\|stop>\[:<n>\] with a point of applier\.before-commit/)
  })

  it('primary: starts with the broker unreachable, takes writes into its sidefile and says why nothing is sent', async () => {
    const file = configFile('primary', { kafka: { brokers: [`127.0.0.1:${closedPort}`] } })
    const child = spawn(process.execPath, [CLI, '--config', file, '--log-level', 'silent', 'primary'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    try {
      const line = await new Promise<string>((resolve) =>
        createInterface({ input: child.stdout }).once('line', resolve),
      )
      const api = String((JSON.parse(line) as { api: string }).api)
      const write = await fetch(`${api}/v1/volumes/v0/blocks/0`, { method: 'POST', body: Buffer.alloc(4096, 7) })
      expect(write.status).toBe(200)
      let status: { kafka: { state: string; lastError?: string } } | undefined
      for (let i = 0; i < 100 && status?.kafka.state !== 'unreachable'; i++) {
        status = (await (await fetch(`${api}/v1/status`)).json()) as typeof status
        if (status?.kafka.state !== 'unreachable') await new Promise((r) => setTimeout(r, 200))
      }
      expect(status?.kafka).toMatchObject({
        state: 'unreachable',
        lastError: expect.stringMatching(/ECONNREFUSED|Connection error/),
      })
    } finally {
      child.kill('SIGKILL')
    }
  }, 60_000)
})
