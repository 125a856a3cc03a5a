/**
 * Regression: a pooled PostgreSQL connection lost while checked out (in the
 * middle of a transaction) emitted an unhandled 'error' event that killed
 * the applier process, where the apply should have failed and been
 * retried. Found by the fault suite (a connection reset during COMMIT).
 */
import pg from 'pg'
import { afterAll, expect, it } from 'vitest'
import { silentLogger } from '../../lib/logger.js'
import { createPool } from '../../lib/postgres.js'
import { stackInfo } from '../kit/servers.js'

const pool = createPool({ url: stackInfo().databaseUrl, logger: silentLogger, max: 2 })

afterAll(async () => {
  await pool.end()
})

it('a connection lost in the middle of a transaction rejects the query and leaves the process and the pool working', async () => {
  const client = await pool.connect()
  const unhandled: unknown[] = []
  const onUncaught = (err: unknown): void => void unhandled.push(err)
  process.on('uncaughtException', onUncaught)
  try {
    await client.query('BEGIN')
    const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid
    const killer = new pg.Client({ connectionString: stackInfo().databaseUrl })
    await killer.connect()
    await killer.query('SELECT pg_terminate_backend($1)', [pid])
    await killer.end()
    await expect(client.query('COMMIT')).rejects.toThrow()
    await new Promise((r) => setImmediate(r))
  } finally {
    client.release(true)
    process.off('uncaughtException', onUncaught)
  }
  expect(unhandled).toEqual([])
  expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one).toBe(1)
})
