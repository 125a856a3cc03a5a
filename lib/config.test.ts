import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { ConfigError } from './errors.js'
import { defaultSchemaName, loadConfig, redactUrl } from './config.js'

describe('loadConfig', () => {
  it('gives defaults that point at the local stack', () => {
    const c = loadConfig()
    expect(c.kafka.brokers).toEqual(['127.0.0.1:9092'])
    expect(c.schemaRegistry.url).toBe('http://127.0.0.1:8081/apis/ccompat/v7')
    expect(c.database.url).toBe('postgres://postgres@127.0.0.1:5432/postgres')
    expect(c.applier.schema).toBe('xrc_demo')
    expect(c.session.controllers).toHaveLength(4)
  })

  it('reads the ecosystem environment names', () => {
    const c = loadConfig({
      env: {
        KAFKA_BROKERS: 'a:1, b:2',
        SCHEMA_REGISTRY_URL: 'http://r:8/apis/ccompat/v7/',
        DATABASE_URL: 'postgres://u:secret@h/db',
      },
    })
    expect(c.kafka.brokers).toEqual(['a:1', 'b:2'])
    expect(c.schemaRegistry.url).toBe('http://r:8/apis/ccompat/v7')
    expect(c.database.url).toBe('postgres://u:secret@h/db')
  })

  it('derives broker and registry addresses from the stack ports', () => {
    const c = loadConfig({ env: { XRC_KAFKA_PORT: '19092', XRC_REGISTRY_PORT: '18081' } })
    expect(c.kafka.brokers).toEqual(['127.0.0.1:19092'])
    expect(c.schemaRegistry.url).toBe('http://127.0.0.1:18081/apis/ccompat/v7')
  })

  it('lists every node of a local cluster as the default brokers', () => {
    const c = loadConfig({ env: { XRC_STACK_BROKERS: '3' } })
    expect(c.kafka.brokers).toEqual(['127.0.0.1:19092', '127.0.0.1:19093', '127.0.0.1:19094'])
  })

  it('refuses a min.insync.replicas above the replication factor', () => {
    expect(() =>
      loadConfig({ env: { XRC_TOPIC_REPLICATION_FACTOR: '2', XRC_TOPIC_MIN_INSYNC_REPLICAS: '3' } }),
    ).toThrow(/topics\.minInsyncReplicas/)
    expect(loadConfig({ env: { XRC_TOPIC_REPLICATION_FACTOR: '3' } }).topics).toEqual({ replicationFactor: 3 })
  })

  it('ranks overrides over environment over defaults', () => {
    const c = loadConfig({ env: { LOG_LEVEL: 'debug', XRC_SESSION: 'fromenv' }, overrides: { log: { level: 'warn' } } })
    expect(c.log.level).toBe('warn')
    expect(c.session.name).toBe('fromenv')
  })

  it('reports every violation at once, each naming its setting', () => {
    let error: unknown
    try {
      loadConfig({
        env: { XRC_KAFKA_PORT: 'abc' },
        overrides: { mover: { groupIntervalMs: -1 }, session: { blockSize: 1000 }, bogus: 1 },
      })
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(ConfigError)
    const settings = (error as ConfigError).issues.map((i) => i.setting)
    expect(settings).toEqual(
      expect.arrayContaining([
        'XRC_KAFKA_PORT (stack.kafkaPort)',
        'mover.groupIntervalMs',
        'session.blockSize',
        'bogus',
      ]),
    )
    expect((error as ConfigError).code).toBe('XRC_CONFIG_INVALID')
  })

  it('rejects duplicate controller ids and volume names', () => {
    const controllers = [
      { id: 1, volumes: [{ name: 'a', blocks: 8 }] },
      { id: 1, volumes: [{ name: 'a', blocks: 8 }] },
    ]
    expect(() => loadConfig({ overrides: { session: { controllers } } })).toThrow(
      /controller id 1 appears twice[\s\S]*volume "a" appears twice/,
    )
  })

  it('refuses a journal record bound that cannot hold one block (groups split between blocks, never inside one)', () => {
    expect(() => loadConfig({ overrides: { session: { blockSize: 1 << 20 } } })).toThrow(
      /mover\.journalRecordMaxBytes: must hold one block of session\.blockSize \(1048576\)/,
    )
    expect(
      loadConfig({ overrides: { session: { blockSize: 1 << 20 }, mover: { journalRecordMaxBytes: (1 << 20) + 1024 } } })
        .mover.journalRecordMaxBytes,
    ).toBe((1 << 20) + 1024)
  })

  it('freezes the result', () => {
    const c = loadConfig()
    expect(Object.isFrozen(c)).toBe(true)
    expect(Object.isFrozen(c.session.controllers[0])).toBe(true)
  })

  it("reads the primary API's token from XRC_PRIMARY_API_TOKEN and keeps it out of JSON, inspection and copies", () => {
    const token = 'c0ffee00c0ffee00c0ffee00c0ffee00'
    const c = loadConfig({ env: { XRC_PRIMARY_API_TOKEN: token, XRC_API_HOST: '0.0.0.0' } })
    expect(c.producer.apiToken).toBe(token)
    expect(c.producer.apiHost).toBe('0.0.0.0')
    expect(JSON.stringify(c)).not.toContain(token)
    expect(inspect(c, { depth: 10 })).not.toContain(token)
    expect({ ...c.producer }).not.toHaveProperty('apiToken')
    expect(Object.isFrozen(c.producer)).toBe(true)
    expect(loadConfig().producer).toMatchObject({ apiHost: '127.0.0.1', apiAllowedHosts: [] })
    expect(loadConfig().producer.apiToken).toBeUndefined()
  })

  it('refuses a short API token without showing it', () => {
    let error: unknown
    try {
      loadConfig({ env: { XRC_PRIMARY_API_TOKEN: 'hunter2' } })
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).issues.map((i) => i.setting)).toEqual(['producer.apiToken'])
    expect((error as Error).message).toContain('at least 16 characters')
    expect(`${(error as Error).message} ${JSON.stringify(error)}`).not.toContain('hunter2')
  })

  it('reads the registry credentials, CA and timeout, the password from XRC_SCHEMA_REGISTRY_PASSWORD and hidden', () => {
    const password = 'registry-pass-2b9d'
    const r = loadConfig({
      env: {
        SCHEMA_REGISTRY_URL: 'https://registry.example:8081/',
        XRC_SCHEMA_REGISTRY_USERNAME: 'xrc-mover',
        XRC_SCHEMA_REGISTRY_PASSWORD: password,
        XRC_SCHEMA_REGISTRY_TIMEOUT_MS: '2500',
      },
    }).schemaRegistry
    expect(r).toEqual({ url: 'https://registry.example:8081', username: 'xrc-mover', timeoutMs: 2500 })
    expect(r.password).toBe(password)
    expect(`${JSON.stringify(r)} ${inspect(r, { depth: 5 })}`).not.toContain(password)
    expect(loadConfig().schemaRegistry.timeoutMs).toBe(10_000)
  })

  it('refuses registry settings that cannot work or would leak the password, each naming its setting', () => {
    const issues = (env: Record<string, string>): Record<string, string> => {
      try {
        loadConfig({ env })
        return {}
      } catch (err) {
        return Object.fromEntries((err as ConfigError).issues.map((i) => [i.setting, i.message]))
      }
    }
    expect(issues({ XRC_SCHEMA_REGISTRY_USERNAME: 'u' })).toEqual({
      'schemaRegistry.password': 'schemaRegistry.username needs a password',
    })
    expect(issues({ XRC_SCHEMA_REGISTRY_PASSWORD: 'secret-1' })).toEqual({
      'schemaRegistry.username': 'schemaRegistry.password needs a user name',
    })
    const clear = issues({
      SCHEMA_REGISTRY_URL: 'http://registry.example:8081',
      XRC_SCHEMA_REGISTRY_USERNAME: 'u',
      XRC_SCHEMA_REGISTRY_PASSWORD: 'secret-2',
    })
    expect(clear['schemaRegistry.password']).toMatch(/in clear: use an https:\/\/ URL/)
    expect(JSON.stringify(clear)).not.toContain('secret-2')
    // basic authentication to the local stack's registry over loopback is allowed
    expect(issues({ XRC_SCHEMA_REGISTRY_USERNAME: 'u', XRC_SCHEMA_REGISTRY_PASSWORD: 'secret-3' })).toEqual({})
    const ca = issues({
      SCHEMA_REGISTRY_URL: 'https://registry.example',
      XRC_SCHEMA_REGISTRY_CA_FILE: '/nonexistent.pem',
    })
    expect(ca).toEqual({ 'schemaRegistry.caFile': 'cannot read /nonexistent.pem (ENOENT)' })
    expect(issues({ XRC_SCHEMA_REGISTRY_CA_FILE: '/etc/hostname' })['schemaRegistry.caFile']).toMatch(
      /needs an https:\/\/ URL.*|is not a PEM certificate/,
    )
  })

  it('names a config file that is not JSON', () => {
    expect(() => loadConfig({ file: '/nonexistent/xrc.json' })).toThrow(/config file \/nonexistent\/xrc.json/)
  })
})

describe('helpers', () => {
  it('redacts passwords', () => {
    expect(redactUrl('postgres://u:secret@h:5432/db')).toBe('postgres://u:***@h:5432/db')
    expect(redactUrl('postgres://u@h/db')).not.toContain('***')
  })
  it('makes schema names PostgreSQL can use', () => {
    expect(defaultSchemaName('My-Session.1')).toBe('xrc_my_session_1')
  })
})
