/**
 * `xrc primary` as an operator runs it: its ready line announces the NBD
 * socket, port and exports; nbdinfo lists them; a write through NBD lands on
 * the volume file; SIGTERM with a client connected lets the client's
 * request in progress reply, closes the connection and exits 0.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { nbdProtocol as P } from '../../producer/nbd/index.js'
import { RawNbdClient } from '../kit/nbdClient.js'
import { serviceChild, writeConfigFile, type ServiceChild } from '../kit/services.js'
import { createTestSession, type TestSession } from '../kit/session.js'

const run = promisify(execFile)
let session: TestSession
let primary: ServiceChild

beforeAll(async () => {
  session = createTestSession({ controllers: 2, volumesPerController: 1, blocks: 32 })
  const configFile = writeConfigFile(session.dataDir, session.settings)
  primary = serviceChild({ service: 'primary', configFile, dir: session.dataDir, args: ['--nbd-port', '0'] })
  await primary.start()
})

afterAll(async () => {
  await primary?.kill('SIGKILL')
  await session?.cleanup()
})

it('announces the NBD endpoints, serves every volume, and stops cleanly with a client connected', async () => {
  const nbd = primary.announced.nbd as { tcp: string; socket: string; exports: string[] }
  expect(nbd.tcp).toMatch(/^nbd:\/\/127\.0\.0\.1:\d+$/)
  expect(nbd.socket).toMatch(/primary\/nbd\.sock$/)
  expect(nbd.exports).toEqual(['c0v0', 'c1v0'])
  const { stdout } = await run('nbdinfo', ['--list', '--json', `nbd+unix:///?socket=${nbd.socket}`])
  const listed = JSON.parse(stdout) as { exports: { 'export-name': string; 'export-size': number }[] }
  expect(listed.exports.map((e) => [e['export-name'], e['export-size']])).toEqual([
    ['c0v0', 32 * 4096],
    ['c1v0', 32 * 4096],
  ])
  const c = await RawNbdClient.connect({ path: nbd.socket })
  await c.handshake()
  await c.go('c1v0')
  expect((await c.write_(4096 + 7, Buffer.from('hello, mirror'))).error).toBe(0)
  const image = await session.primaryImage('c1v0')
  expect(image.subarray(4096 + 7, 4096 + 20).toString()).toBe('hello, mirror')
  const reply = c.request(P.COMMANDS.FLUSH, 0, 0)
  expect(await primary.stop()).toBe(0)
  expect((await reply).error).toBe(0)
  await c.closed
})
