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

/** `value` as an SQL string literal, for the few statements sent without parameters (node-postgres's escaping). */
export function sqlLiteral(value: string): string {
  return pg.escapeLiteral(value)
}

/**
 * Server-side bounds of a pool's sessions (ms; 0 = none), sent at connect: a statement, a lock wait and a
 * transaction left idle (a paused process holding its locks) end with an error instead of lasting forever.
 */
export interface SessionTimeouts {
  statementTimeoutMs: number
  lockTimeoutMs: number
  idleInTransactionTimeoutMs: number
}

export function createPool(options: {
  url: string
  logger: Logger
  max?: number
  applicationName?: string
  timeouts?: SessionTimeouts
}): Pool {
  const t = options.timeouts
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 4,
    application_name: options.applicationName ?? 'xrc',
    connectionTimeoutMillis: 10_000,
    ...(t
      ? {
          statement_timeout: t.statementTimeoutMs,
          lock_timeout: t.lockTimeoutMs,
          idle_in_transaction_session_timeout: t.idleInTransactionTimeoutMs,
        }
      : {}),
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

/**
 * Whether a failure of PostgreSQL passes by itself (retry as long as it lasts): a lost or refused connection
 * (no SQLSTATE), and the SQLSTATEs of a server going away or busy: connection exceptions (08), shutdown and
 * start-up (57P01-57P03), resources (53), a serialization failure or deadlock (40001, 40P01), a lock or
 * statement timeout (55P03, 57014) and an idle transaction ended (25P03). Any other SQLSTATE is a fault no
 * retry mends (a missing table, a violated constraint).
 */
export function isTransientPostgresError(err: unknown): boolean {
  if (err instanceof XrcError) return err.retriable
  if (!(err instanceof Error) || err instanceof TypeError || err instanceof RangeError) return false
  if (isPostgresTlsRefusal(err)) return false
  const { code, severity } = err as { code?: unknown; severity?: unknown }
  if (typeof severity !== 'string' || typeof code !== 'string') return true // a socket's error, a pool timeout
  return (
    code.startsWith('08') ||
    code.startsWith('53') ||
    ['57P01', '57P02', '57P03', '40001', '40P01', '55P03', '57014', '25P03'].includes(code)
  )
}

/** Node's codes of a server certificate refused (untrusted, expired, for another name). */
const TLS_REFUSALS = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
])

/**
 * TLS asked for in database.url (sslmode=verify-full, sslrootcert=...) that
 * cannot be had: the server's certificate refused, a server without TLS, or
 * a certificate or key file named there that cannot be opened.
 * No retry mends it, so it is not transient: retried, it was a service
 * reconnecting for ever with nothing in its health but "unreachable".
 */
export function isPostgresTlsRefusal(err: unknown): boolean {
  const { code, syscall } = err as { code?: unknown; syscall?: unknown }
  if (typeof code === 'string' && TLS_REFUSALS.has(code)) return true
  // node-postgres reads sslrootcert, sslcert and sslkey as it connects; a socket's ENOENT is 'connect', not 'open'
  if ((code === 'ENOENT' || code === 'EACCES') && syscall === 'open') return true
  return err instanceof Error && err.message === 'The server does not support SSL connections'
}

/**
 * Creates the schema `quoted` (an identifier as ident() quotes it) only when
 * it is missing. CREATE SCHEMA IF NOT EXISTS checks for CREATE on the
 * database before it looks for the schema, so a role that owns its schema
 * and nothing else (README, "PostgreSQL roles") was refused it.
 */
export function createSchemaIfMissing(quoted: string): string {
  const literal = quoted.replace(/'/g, "''")
  return `DO $$ BEGIN IF to_regnamespace('${literal}') IS NULL THEN CREATE SCHEMA ${quoted}; END IF; END $$`
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
