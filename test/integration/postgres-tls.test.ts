/**
 * database.url's TLS parameters reach node-postgres as they are (sslmode,
 * sslrootcert: pg's own connection string parser reads them), and TLS that
 * cannot be had is an error no retry mends. The stack's PostgreSQL speaks
 * no TLS, so sslmode=verify-full must fail against it: proof that the
 * setting was asked for, not dropped on the way.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { silentLogger } from '../../lib/logger.js'
import { createPool, isPostgresTlsRefusal, isTransientPostgresError, type Pool } from '../../lib/postgres.js'
import { stackInfo } from '../kit/servers.js'

const pools: Pool[] = []
afterEach(async () => {
  for (const p of pools.splice(0)) await p.end()
})

/** The stack's URL with `params` added. */
function withParams(params: Record<string, string>): string {
  const u = new URL(stackInfo().databaseUrl)
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v)
  return u.toString()
}

function pool(url: string): Pool {
  const p = createPool({ url, logger: silentLogger, max: 1 })
  pools.push(p)
  return p
}

describe('PostgreSQL TLS settings in database.url', () => {
  it('asks for TLS with sslmode=verify-full, and a server that cannot give it is not retried', async () => {
    expect((await pool(stackInfo().databaseUrl).query<{ ssl: string }>('SHOW ssl')).rows[0]?.ssl).toBe('off')
    const err = await pool(withParams({ sslmode: 'verify-full' }))
      .query('SELECT 1')
      .catch((e: unknown) => e)
    expect(String(err)).toMatch(/The server does not support SSL connections/)
    expect(isPostgresTlsRefusal(err)).toBe(true)
    expect(isTransientPostgresError(err)).toBe(false)
  })

  it('reads sslrootcert from the URL: a missing CA file is named', async () => {
    const p = pool(withParams({ sslmode: 'verify-full', sslrootcert: '/nonexistent/root.crt' }))
    // pg reads the file as it makes the connection, and throws before any promise: callers await inside async code
    const err = await (async () => p.query('SELECT 1'))().catch((e: unknown) => e)
    expect(String(err)).toMatch(/ENOENT.*\/nonexistent\/root\.crt/)
    expect(isTransientPostgresError(err)).toBe(false)
  })

  it('connects without TLS when the URL asks for none (sslmode=disable)', async () => {
    const r = await pool(withParams({ sslmode: 'disable' })).query<{ one: number }>('SELECT 1 AS one')
    expect(r.rows[0]?.one).toBe(1)
  })
})
