import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../lib/config.js'
import { maxReadFor } from '../snapshot/imageServer.js'
import { parseListen, serveSettings } from './snapshotServe.js'

const nbd = loadConfig({
  overrides: { session: { name: 's', controllers: [{ id: 0, volumes: [{ name: 'v', blocks: 8 }] }] } },
}).nbd

describe('parseListen', () => {
  it('takes host:port, an IPv6 host in brackets, port 0 for any', () => {
    expect(parseListen('127.0.0.1:10809')).toEqual({ host: '127.0.0.1', port: 10809 })
    expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 })
    expect(parseListen('localhost:65535')).toEqual({ host: 'localhost', port: 65535 })
  })

  it('refuses anything else', () => {
    for (const bad of ['10809', '127.0.0.1', ':10809', '::1:10809', 'h:65536', 'h:-1', 'h:x'])
      expect(() => parseListen(bad), bad).toThrow(/host:port/)
  })
})

describe('serveSettings', () => {
  it('listens on TCP, any port, when neither --listen nor --socket is given; never on the primary socket', () => {
    expect(serveSettings(nbd, {})).toMatchObject({ host: nbd.host, port: 0, socket: '-' })
  })

  it('listens where it is told: TCP, the socket, or both', () => {
    expect(serveSettings(nbd, { listen: { host: '0.0.0.0', port: 9 } })).toMatchObject({
      host: '0.0.0.0',
      port: 9,
      socket: '-',
    })
    expect(serveSettings(nbd, { socket: '/tmp/s.sock' })).toMatchObject({ port: -1, socket: '/tmp/s.sock' })
    expect(serveSettings(nbd, { socket: '/tmp/s.sock', listen: { host: 'h', port: 1 } })).toMatchObject({
      host: 'h',
      port: 1,
      socket: '/tmp/s.sock',
    })
  })
})

describe('maxReadFor', () => {
  it('is 1 MiB in whole blocks, at least one block', () => {
    expect(maxReadFor(4096)).toBe(1024 * 1024)
    expect(maxReadFor(3000)).toBe(349 * 3000)
    expect(maxReadFor(2 * 1024 * 1024)).toBe(2 * 1024 * 1024)
  })
})
