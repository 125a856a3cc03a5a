import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../lib/config.js'
import { nodeAddresses, setupConnection } from './kafka.js'
import { stackPaths } from './paths.js'
import { secureDir, secureKafka } from './secureKafka.js'

const dir = mkdtempSync(join(tmpdir(), 'xrc-secure-stack-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('the secured local broker (xrc stack up --secure)', () => {
  const config = loadConfig({ overrides: { stack: { dir }, session: { name: 'sec' } } })
  const paths = stackPaths(config)

  it('is nothing until the first up makes it: status and down find no files to act on', () => {
    expect(secureKafka(config, paths, false)).toBeUndefined()
  })

  it(
    'is one node at stack.securePort with its own files, SASL_SSL, ACLs, and a user per stage',
    { timeout: 60_000 },
    () => {
      const setup = secureKafka(config, paths, true)
      expect(setup).toBeDefined()
      if (setup === undefined) return
      expect(nodeAddresses(setup)).toEqual(['127.0.0.1:9094'])
      expect(setup.nodes[0]?.controllerPort).toBe(9095)
      expect(setup.nodes[0]?.dataDir).not.toBe(paths.kafkaData)
      expect(setup.security).toMatchObject({ authorizer: true, admin: { name: 'admin' } })
      expect(setup.security?.users.map((u) => u.name)).toEqual(['xrc-primary', 'xrc-mover', 'xrc-applier'])
      // the stack's own probes log in as the admin over TLS
      const connection = setupConnection(setup)
      expect(connection.tls?.caFile).toBe(join(secureDir(paths), 'ca.pem'))
      expect(connection.sasl?.username).toBe('admin')
      // an env file per stage user, 0600, that loadConfig takes as it is
      const envFile = join(secureDir(paths), 'xrc-mover.env')
      expect(statSync(envFile).mode & 0o777).toBe(0o600)
      expect(statSync(join(secureDir(paths), 'users.json')).mode & 0o777).toBe(0o600)
      const env = Object.fromEntries(
        readFileSync(envFile, 'utf8')
          .trim()
          .split('\n')
          .map((l) => l.split('=', 2) as [string, string]),
      )
      const mover = loadConfig({ env })
      expect(mover.kafka.brokers).toEqual(['127.0.0.1:9094'])
      expect(mover.kafka.sasl?.username).toBe('xrc-mover')
      expect(mover.kafka.sasl?.password).toBe(setup.security?.users[1]?.password)
      // made once: a later up or status finds the same passwords and CA
      const again = secureKafka(config, paths, false)
      expect(again?.security?.admin.password).toBe(setup.security?.admin.password)
      expect(again?.security?.storePassword).toBe(setup.security?.storePassword)
    },
  )
})
