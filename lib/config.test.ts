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
