import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { isXrcError } from '../lib/errors.js'
import { apiAccess, checkHost, checkToken, clientHost, hostOfHeader, isLoopback } from './apiAccess.js'

const TOKEN = 'f3a1c9e07b2d4e6f8a0b1c2d3e4f5a6b'

/** The error code `fn` throws, or 'none'. */
function codeOf(fn: () => void): string {
  try {
    fn()
    return 'none'
  } catch (err) {
    return isXrcError(err) ? err.code : `not an XrcError: ${String(err)}`
  }
}

describe('apiAccess', () => {
  it('tells loopback addresses from the others', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST'])
      expect({ host, loopback: isLoopback(host) }).toEqual({ host, loopback: true })
    for (const host of ['0.0.0.0', '::', '10.0.0.5', 'primary.example', '128.0.0.1', '::ffff:10.0.0.1'])
      expect({ host, loopback: isLoopback(host) }).toEqual({ host, loopback: false })
  })

  it('refuses to listen beyond loopback without a token, naming the setting', () => {
    for (const listenHost of ['0.0.0.0', '::', '10.0.0.5']) {
      let error: unknown
      try {
        apiAccess({ listenHost })
      } catch (err) {
        error = err
      }
      expect(isXrcError(error, 'XRC_API_UNPROTECTED')).toBe(true)
      expect((error as Error).message).toContain(listenHost)
      expect((error as Error).message).toContain('producer.apiToken')
    }
    expect(() => apiAccess({ listenHost: '0.0.0.0', token: TOKEN })).not.toThrow()
    expect(() => apiAccess({ listenHost: '127.0.0.1' })).not.toThrow()
  })

  it('keeps the token out of JSON, inspection and spread copies', () => {
    const access = apiAccess({ listenHost: '127.0.0.1', token: TOKEN })
    expect(access.token).toBe(TOKEN)
    expect(JSON.stringify(access)).not.toContain(TOKEN)
    expect(inspect(access, { depth: 5 })).not.toContain(TOKEN)
    expect({ ...access }).not.toHaveProperty('token')
  })

  it('accepts the loopback names, the listen address and the allowed names as Host, with or without a port', () => {
    const access = apiAccess({ listenHost: '10.0.0.5', token: TOKEN, allowedHosts: ['Primary.Example', '::2'] })
    for (const host of [
      'localhost',
      'localhost:7070',
      '127.0.0.1:7070',
      '[::1]:7070',
      '10.0.0.5:7070',
      'primary.example:7070',
      'PRIMARY.example',
      '[::2]:80',
    ])
      expect({ host, code: codeOf(() => checkHost(access, host)) }).toEqual({ host, code: 'none' })
    for (const host of ['evil.example', 'evil.example:7070', '127.0.0.2:7070', '10.0.0.6', 'localhost.evil.example'])
      expect({ host, code: codeOf(() => checkHost(access, host)) }).toEqual({ host, code: 'XRC_API_HOST_REFUSED' })
    expect(codeOf(() => checkHost(access, undefined))).toBe('XRC_API_HOST_REFUSED')
  })

  it('names the refused Host, the names accepted and the setting to add it to', () => {
    const access = apiAccess({ listenHost: '127.0.0.1' })
    let error: unknown
    try {
      checkHost(access, 'rebound.example:7070')
    } catch (err) {
      error = err
    }
    expect((error as Error).message).toMatch(/Host "rebound\.example".*localhost.*producer\.apiAllowedHosts/)
    expect(isXrcError(error) && error.status).toBe(403)
  })

  it('does not take a wildcard listen address for a name', () => {
    const access = apiAccess({ listenHost: '0.0.0.0', token: TOKEN })
    expect(codeOf(() => checkHost(access, '0.0.0.0:7070'))).toBe('XRC_API_HOST_REFUSED')
  })

  it('asks for the bearer token only when one is set, and refuses a missing or other one', () => {
    const open = apiAccess({ listenHost: '127.0.0.1' })
    expect(codeOf(() => checkToken(open, undefined))).toBe('none')
    const access = apiAccess({ listenHost: '127.0.0.1', token: TOKEN })
    const cases: [string | undefined, string][] = [
      [`Bearer ${TOKEN}`, 'none'],
      [`bearer ${TOKEN}`, 'none'],
      [`Bearer  ${TOKEN} `, 'none'],
      [undefined, 'XRC_API_UNAUTHORIZED'],
      ['', 'XRC_API_UNAUTHORIZED'],
      [TOKEN, 'XRC_API_UNAUTHORIZED'],
      [`Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`, 'XRC_API_UNAUTHORIZED'],
      [`Bearer ${TOKEN.slice(0, -1)}`, 'XRC_API_UNAUTHORIZED'],
      [`Bearer ${TOKEN}0`, 'XRC_API_UNAUTHORIZED'],
      [`Bearer ${TOKEN.toUpperCase()}`, 'XRC_API_UNAUTHORIZED'],
      [`Bearer ${TOKEN} extra`, 'XRC_API_UNAUTHORIZED'],
    ]
    for (const [header, code] of cases)
      expect({ header, code: codeOf(() => checkToken(access, header)) }).toEqual({ header, code })
  })

  it('never puts the token sent or the one expected in its error', () => {
    const access = apiAccess({ listenHost: '127.0.0.1', token: TOKEN })
    let error: unknown
    try {
      checkToken(access, 'Bearer not-the-token-at-all-0123456789')
    } catch (err) {
      error = err
    }
    expect(isXrcError(error) && error.status).toBe(401)
    const shown = `${(error as Error).message} ${JSON.stringify(error)} ${inspect(error)}`
    expect(shown).not.toContain(TOKEN)
    expect(shown).not.toContain('not-the-token-at-all')
  })

  it('reads the host out of a Host header and picks the host a client connects to', () => {
    expect(hostOfHeader('Example.COM:8080')).toBe('example.com')
    expect(hostOfHeader('[::1]:7070')).toBe('[::1]')
    expect(hostOfHeader('[::1]')).toBe('[::1]')
    expect(hostOfHeader('localhost')).toBe('localhost')
    expect(clientHost('0.0.0.0')).toBe('127.0.0.1')
    expect(clientHost('::')).toBe('[::1]')
    expect(clientHost('::1')).toBe('[::1]')
    expect(clientHost('10.0.0.5')).toBe('10.0.0.5')
  })
})
