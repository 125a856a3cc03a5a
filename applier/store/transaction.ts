/**
 * One PostgreSQL transaction on a pooled client, with the one failure that
 * needs care named: a COMMIT whose connection failed may have committed.
 */
import { XrcError } from '../../lib/errors.js'
import type { Pool, PoolClient } from '../../lib/postgres.js'

/**
 * Runs `fn` in BEGIN/COMMIT on one pooled client; rolls back on error and
 * drops a client whose rollback failed. Throws XRC_COMMIT_UNKNOWN
 * (retriable) when the connection failed during COMMIT: the caller reads
 * back whether it committed, it does not assume.
 */
export async function inTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  let broken: Error | undefined
  try {
    await client.query('BEGIN')
    const result = await fn(client)
    try {
      await client.query('COMMIT')
    } catch (err) {
      // the server may have committed before the connection failed
      broken = err instanceof Error ? err : new Error(String(err))
      throw new XrcError('XRC_COMMIT_UNKNOWN', { cause: err })
    }
    return result
  } catch (err) {
    await client.query('ROLLBACK').catch((e: unknown) => {
      broken = e instanceof Error ? e : new Error(String(e))
    })
    throw err
  } finally {
    client.release(broken)
  }
}
