/**
 * A PostgreSQL role per purpose (README, "PostgreSQL roles"), made with the
 * README's SQL under unique names and dropped afterwards:
 *   - the applier's role owns its session schema and nothing else: the
 *     block store initialises and applies groups in it, and it can create no
 *     other schema and nothing in public;
 *   - a read-only role runs `xrc status` and `xrc volume export` against
 *     that schema, and cannot write it.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBlockStore } from '../../applier/index.js'
import { silentLogger } from '../../lib/logger.js'
import { createPool, ident, type Pool } from '../../lib/postgres.js'
import { lastJsonLine, runCli, stackEnv } from '../kit/cli.js'
import { modelImage, randomGroups, TEST_BLOCK_SIZE, TEST_VOLUMES } from '../kit/journal.js'
import { uniqueName } from '../kit/names.js'
import { stackInfo } from '../kit/servers.js'
import { writeConfigFile } from '../kit/services.js'

const schema = uniqueName('xrc_roles')
const applierRole = `${schema}_applier`
const readerRole = `${schema}_reader`
const password = randomBytes(12).toString('hex')
const SESSION = 'roles_test'
let admin: pg.Client
let database: string
let dir: string
const pools: Pool[] = []

/** The stack's URL, logged in as `role`. */
function urlAs(role: string): string {
  const u = new URL(stackInfo().databaseUrl)
  u.username = role
  u.password = password
  return u.toString()
}

function poolAs(role: string): Pool {
  const p = createPool({ url: urlAs(role), logger: silentLogger, max: 2 })
  pools.push(p)
  return p
}

beforeAll(async () => {
  admin = new pg.Client({ connectionString: stackInfo().databaseUrl })
  await admin.connect()
  database = (await admin.query<{ db: string }>('SELECT current_database() AS db')).rows[0]?.db ?? ''
  dir = await mkdtemp(join(tmpdir(), 'xrc-roles-'))
  // the README's SQL, names and password substituted
  const [a, r, s, db] = [ident(applierRole), ident(readerRole), ident(schema), ident(database)]
  for (const sql of [
    `CREATE ROLE ${a} LOGIN PASSWORD '${password}'`,
    `GRANT CONNECT ON DATABASE ${db} TO ${a}`,
    `CREATE SCHEMA ${s} AUTHORIZATION ${a}`,
    `CREATE ROLE ${r} LOGIN PASSWORD '${password}'`,
    `GRANT CONNECT ON DATABASE ${db} TO ${r}`,
    `GRANT USAGE ON SCHEMA ${s} TO ${r}`,
    `ALTER DEFAULT PRIVILEGES FOR ROLE ${a} IN SCHEMA ${s} GRANT SELECT ON TABLES TO ${r}`,
  ])
    await admin.query(sql)
})

afterAll(async () => {
  for (const p of pools.splice(0)) await p.end()
  await admin.query(`DROP SCHEMA IF EXISTS ${ident(schema)} CASCADE`)
  for (const role of [applierRole, readerRole]) {
    await admin.query(`DROP OWNED BY ${ident(role)}`).catch(() => undefined)
    await admin.query(`DROP ROLE IF EXISTS ${ident(role)}`)
  }
  await admin.end()
  await rm(dir, { recursive: true, force: true })
})

const groups = randomGroups(SESSION, 6)

describe('a PostgreSQL role per purpose', () => {
  it("the applier's role sets up its store and applies groups in its schema, and can make nothing elsewhere", async () => {
    const pool = poolAs(applierRole)
    const store = createBlockStore({
      pool,
      schema,
      session: SESSION,
      blockSize: TEST_BLOCK_SIZE,
      volumes: TEST_VOLUMES,
      logger: silentLogger,
    })
    await store.init()
    for (const [i, g] of groups.entries()) expect(await store.applyGroup(g, i)).toBe('applied')
    expect((await store.lastApplied())?.groupSeq).toBe(groups.at(-1)?.groupSeq)
    const elsewhere = [`CREATE SCHEMA ${ident(`${schema}_other`)}`, 'CREATE TABLE public.xrc_roles_probe (a int)']
    for (const sql of elsewhere) await expect(pool.query(sql), sql).rejects.toMatchObject({ code: '42501' }) // insufficient_privilege
  })

  it('a read-only role runs xrc status and xrc volume export, and cannot write', async () => {
    const configFile = writeConfigFile(dir, {
      session: {
        name: SESSION,
        blockSize: TEST_BLOCK_SIZE,
        controllers: [{ id: 0, volumes: TEST_VOLUMES }],
        dataDir: dir,
      },
      applier: { schema, metricsPort: 0 },
      mover: { metricsPort: 0 },
      producer: { apiPort: 0 },
      log: { level: 'warn' },
    })
    const env = { ...stackEnv(), DATABASE_URL: urlAs(readerRole) }
    const status = await runCli(['--config', configFile, 'status', '--json'], { env })
    const s = lastJsonLine<{ appliedGroup?: { seq: number }; unavailable: string[] }>(status)
    expect(s.appliedGroup?.seq).toBe(groups.at(-1)?.groupSeq)
    expect(s.unavailable.filter((u) => /PostgreSQL|secondary/.test(u))).toEqual([])

    const file = join(dir, 'va.img')
    const exported = await runCli(['--config', configFile, 'volume', 'export', 'va', file, '--json'], { env })
    expect(exported.code, exported.stderr).toBe(0)
    expect((await readFile(file)).equals(modelImage(groups, 'va'))).toBe(true)

    const reader = poolAs(readerRole)
    for (const sql of [
      `UPDATE ${ident(schema)}.control SET group_seq = 0`,
      `DELETE FROM ${ident(schema)}.applied_groups`,
      `CREATE TABLE ${ident(schema)}.probe (a int)`,
    ])
      await expect(reader.query(sql), sql).rejects.toMatchObject({ code: '42501' })
  })
})
