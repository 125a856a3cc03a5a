import pg from 'pg'
import { redactUrl } from '../lib/config.js'
import { XrcError } from '../lib/errors.js'

/** Checks that PostgreSQL answers `SELECT 1` at `url`; a clear error otherwise. */
export async function checkPostgres(url: string, timeoutMs = 5000): Promise<string> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs })
  try {
    await client.connect()
    const r = await client.query<{ v: string }>('SELECT current_setting($1) AS v', ['server_version'])
    return r.rows[0]?.v ?? 'unknown'
  } catch (err) {
    throw new XrcError('XRC_POSTGRES_UNREACHABLE', { url: redactUrl(url), settings: 'DATABASE_URL', cause: err })
  } finally {
    await client.end().catch(() => undefined)
  }
}

/** Creates database `name` on the server at `url` unless it exists. */
export async function ensureDatabase(url: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const r = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])
    if (r.rowCount === 0) await client.query(`CREATE DATABASE "${name}"`)
  } catch (err) {
    // two concurrent `up`s: the other one created it
    if ((err as { code?: string }).code !== '42P04') throw err
  } finally {
    await client.end()
  }
}

/** `url` with its database replaced by `database`. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url)
  u.pathname = `/${database}`
  return u.toString()
}
