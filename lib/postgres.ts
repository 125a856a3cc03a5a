/**
 * PostgreSQL connections of the secondary. One pool per process; every
 * session's tables live in their own schema (search_path is never relied
 * on: statements name the schema).
 */
import pg from 'pg'
import { redactUrl } from './config.js'
import { XrcError, errorMessage } from './errors.js'
import type { Logger } from './logger.js'

export type Pool = pg.Pool
export type PoolClient = pg.PoolClient

// int8 as bigint: consistency times are microseconds and exceed 2^53 nowhere
// soon, but offsets and times must never silently round.
pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => BigInt(v))

export function createPool(options: { url: string; logger: Logger; max?: number; applicationName?: string }): Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 4,
    application_name: options.applicationName ?? 'xrc',
    connectionTimeoutMillis: 10_000,
  })
  const log = options.logger.child({ component: 'pg' })
  // an idle client's error (server restart) must not crash the process
  pool.on('error', (err) => log.warn({ err }, 'idle PostgreSQL connection failed'))
  // nor a checked-out one's: pg-pool drops its listener while a client is out, and a connection lost in the
  // middle of a transaction then emitted an unhandled 'error' that killed the process (the fault suite's
  // COMMIT-reset scenario); the query in progress still rejects, and its caller retries
  pool.on('connect', (client) => client.on('error', (err) => log.warn({ err }, 'PostgreSQL connection failed')))
  return pool
}

/** Quotes a PostgreSQL identifier. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}

/**
 * `err` as XRC_POSTGRES_UNREACHABLE naming the (redacted) URL and the
 * setting when it says the server could not be reached or refused the
 * login; any other error unchanged. For a service's start.
 */
export function postgresStartError(err: unknown, url: string): unknown {
  if (err instanceof XrcError) return err
  const code = (err as { code?: unknown }).code
  // node's socket errors (ECONNREFUSED, ENOTFOUND, ...), the pool's timeout, and the server refusing the login or
  // starting up
  const unreachable =
    (typeof code === 'string' &&
      (/^E[A-Z]+$/.test(code) || code.startsWith('28') || code === '57P03' || code === '3D000')) ||
    /timeout|terminated/i.test(errorMessage(err))
  if (!unreachable) return err
  return new XrcError('XRC_POSTGRES_UNREACHABLE', {
    url: redactUrl(url),
    settings: 'database.url, DATABASE_URL',
    cause: err,
  })
}
