/**
 * One PostgreSQL transaction on a pooled client, with the one failure that
 * needs care named: a COMMIT whose connection failed may have committed.
 */
import { XrcError } from '../../lib/errors.js'
import type { QueryResult, QueryResultRow } from 'pg'
import type { Pool, PoolClient } from '../../lib/postgres.js'

/**
 * Runs `fn` in BEGIN/COMMIT on one pooled client; rolls back on error and
 * drops a client whose rollback failed. Throws XRC_COMMIT_UNKNOWN
 * (retriable) when the connection failed during COMMIT: the caller reads
 * back whether it committed, it does not assume.
 *
 * `opening`, a statement without parameters (its values written in as
 * literals), goes to the server with the BEGIN, in one round trip (a simple
 * query of two statements), and `fn` gets its rows: the apply's first
 * statement, which locks the control row, costs no trip of its own.
 */
export async function inTransaction<T, R extends QueryResultRow = QueryResultRow>(
  pool: Pool,
  fn: (client: PoolClient, opened: R[]) => Promise<T>,
  opening?: string,
): Promise<T> {
  const client = await pool.connect()
  let broken: Error | undefined
  try {
    let opened: R[] = []
    if (opening === undefined) await client.query('BEGIN')
    else {
      const results = (await client.query(`BEGIN; ${opening}`)) as unknown as QueryResult<R>[]
      opened = results[1]?.rows ?? []
    }
    const result = await fn(client, opened)
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
