import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MAX_SOCKET_PATH, socketPlan, tcpUrlOf } from './listenPlan.js'

describe('tcpUrlOf', () => {
  it('is a URL whose host and port are the listener’s (IPv6 in brackets)', () => {
    const hostArb = fc.oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom('localhost', '0.0.0.0', '::', '::1'))
    fc.assert(
      fc.property(hostArb, fc.integer({ min: 1, max: 65535 }), (host, port) => {
        const url = new URL(tcpUrlOf(host, port))
        expect(url.protocol).toBe('nbd:')
        // URL normalizes the address (IPv6 compressed, IPv4 as is); the port is kept
        expect(url.hostname).toBe(new URL(`http://${host.includes(':') ? `[${host}]` : host}`).hostname)
        expect(url.port).toBe(String(port))
      }),
    )
  })
})

describe('socketPlan', () => {
  it('"-" is none, "" the default path, anything else itself; too long refuses only a path that was set', () => {
    const pathArb = fc
      .array(fc.constantFrom('a', 'b', 'é', '/', 'z'), { minLength: 1, maxLength: 130 })
      .map((cs) => `/${cs.join('')}`)
    fc.assert(
      fc.property(fc.oneof(fc.constant('-'), fc.constant(''), pathArb), pathArb, (setting, fallback) => {
        const plan = socketPlan(setting, fallback)
        if (setting === '-') {
          expect(plan).toEqual({ kind: 'none' })
          return
        }
        const path = setting || fallback
        if (Buffer.byteLength(path) <= MAX_SOCKET_PATH) {
          expect(plan).toEqual({ kind: 'listen', path })
          return
        }
        expect(plan).toEqual({ kind: 'too-long', path, explicit: setting !== '' })
      }),
    )
  })
})
