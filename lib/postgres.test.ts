import fc from 'fast-check'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { XrcError } from './errors.js'
import { isTransientPostgresError } from './postgres.js'

/** A server error as node-postgres makes it (DatabaseError: severity and SQLSTATE). */
function serverError(code: string): Error {
  const err = new pg.DatabaseError('server says no', 0, 'error')
  err.code = code
  err.severity = 'ERROR'
  return err
}

const TRANSIENT = ['08006', '08001', '57P01', '57P02', '57P03', '53300', '40001', '40P01', '55P03', '57014', '25P03']
const FAULTS = ['42P01', '23505', '22003', '42501', '0A000', 'XX000']

describe('isTransientPostgresError', () => {
  it('retries a server going away, busy or timing out; not a fault of the statement', () => {
    for (const code of TRANSIENT) expect(isTransientPostgresError(serverError(code)), code).toBe(true)
    for (const code of FAULTS) expect(isTransientPostgresError(serverError(code)), code).toBe(false)
  })

  it('retries a lost connection and a pool timeout; never a programmer error', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })
    expect(isTransientPostgresError(refused)).toBe(true)
    expect(isTransientPostgresError(new Error('Connection terminated unexpectedly'))).toBe(true)
    expect(isTransientPostgresError(new TypeError('x is undefined'))).toBe(false)
    expect(isTransientPostgresError('a string')).toBe(false)
  })

  it('never retries TLS that cannot be had: a refused certificate, a server without TLS', () => {
    for (const code of ['SELF_SIGNED_CERT_IN_CHAIN', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID']) {
      const err = Object.assign(new Error(`certificate refused (${code})`), { code })
      expect({ code, transient: isTransientPostgresError(err) }).toEqual({ code, transient: false })
    }
    expect(isTransientPostgresError(new Error('The server does not support SSL connections'))).toBe(false)
    const noCaFile = Object.assign(new Error("ENOENT: no such file or directory, open '/etc/ca.pem'"), {
      code: 'ENOENT',
      syscall: 'open',
    })
    expect(isTransientPostgresError(noCaFile)).toBe(false)
    // a Unix socket not there yet is the server not up: ridden out
    const noSocket = Object.assign(new Error('connect ENOENT /run/postgresql/.s.PGSQL.5432'), {
      code: 'ENOENT',
      syscall: 'connect',
    })
    expect(isTransientPostgresError(noSocket)).toBe(true)
  })

  it('an XrcError says so itself', () => {
    expect(isTransientPostgresError(new XrcError('XRC_COMMIT_UNKNOWN', { cause: new Error('reset') }))).toBe(true)
    expect(isTransientPostgresError(new XrcError('XRC_GROUP_OUT_OF_ORDER', 'out of order'))).toBe(false)
  })

  it('decides by the SQLSTATE class alone for connection exceptions and resources', () => {
    fc.assert(
      fc.property(fc.constantFrom('08', '53'), fc.stringMatching(/^[0-9A-Z]{3}$/), (cls, rest) => {
        expect(isTransientPostgresError(serverError(cls + rest))).toBe(true)
      }),
    )
  })
})
