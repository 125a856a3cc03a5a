import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { Writable } from 'node:stream'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeTlsMaterial, type TlsMaterial } from '../stack/certificates.js'
import { loadConfig } from './config.js'
import { ConfigError } from './errors.js'
import { kafkajsSecurity } from './kafka/client/clientSecurity.js'

const PASSWORD = 'pw-Zq81-never-shown'

let dir: string
let tls: TlsMaterial

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'xrc-kafka-security-'))
  tls = makeTlsMaterial(join(dir, 'tls'))
}, 60_000)
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** The issues of the ConfigError `fn` throws, as "setting: message" lines. */
function issuesOf(fn: () => unknown): string[] {
  try {
    fn()
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.setting}: ${i.message}`)
    throw err
  }
  throw new Error('no ConfigError')
}

describe('Kafka security settings', () => {
  it('are off by default: no TLS, no SASL', () => {
    const c = loadConfig()
    expect(c.kafka.tls).toBeUndefined()
    expect(c.kafka.sasl).toBeUndefined()
    expect(kafkajsSecurity(c.kafka)).toEqual({})
  })

  it('come from the environment, and reach the kafkajs options', () => {
    const c = loadConfig({
      env: {
        XRC_KAFKA_TLS_CA_FILE: tls.caFile,
        XRC_KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
        XRC_KAFKA_SASL_USERNAME: 'xrc-mover',
        XRC_KAFKA_SASL_PASSWORD: PASSWORD,
      },
    })
    expect(c.kafka.tls).toEqual({ caFile: tls.caFile, checkServerName: true })
    expect(c.kafka.sasl).toMatchObject({ mechanism: 'SCRAM-SHA-512', username: 'xrc-mover' })
    expect(c.kafka.sasl?.password).toBe(PASSWORD)
    const options = kafkajsSecurity(c.kafka)
    expect(options.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'xrc-mover', password: PASSWORD })
    expect(options.ssl).toMatchObject({ rejectUnauthorized: true })
    expect(String((options.ssl as { ca: string }).ca)).toContain('BEGIN CERTIFICATE')
  })

  it('take XRC_KAFKA_TLS=true alone as TLS with the public CAs, and refuse a value that is not a boolean', () => {
    expect(loadConfig({ env: { XRC_KAFKA_TLS: 'true' } }).kafka.tls).toEqual({ checkServerName: true })
    expect(loadConfig({ env: { XRC_KAFKA_TLS: 'false' } }).kafka.tls).toBeUndefined()
    expect(issuesOf(() => loadConfig({ env: { XRC_KAFKA_TLS: 'maybe' } }))).toEqual([
      'XRC_KAFKA_TLS (kafka.tls.enabled): expected true or false, got "maybe"',
    ])
  })

  it('keep the password out of JSON, inspection, logs and the config dump', () => {
    const c = loadConfig({
      overrides: { kafka: { sasl: { mechanism: 'SCRAM-SHA-512', username: 'u', password: PASSWORD } } },
    })
    expect(Object.keys(c.kafka.sasl ?? {})).toEqual(['mechanism', 'username'])
    expect(JSON.stringify(c)).not.toContain(PASSWORD)
    expect(inspect(c, { depth: 10 })).not.toContain(PASSWORD)
    expect(JSON.stringify({ ...c.kafka.sasl })).not.toContain(PASSWORD)
    const lines: string[] = []
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString())
        done()
      },
    })
    pino(sink).info({ config: c, kafka: c.kafka }, 'starting')
    expect(lines.join('')).toContain('"username":"u"')
    expect(lines.join('')).not.toContain(PASSWORD)
    expect(Object.isFrozen(c.kafka.sasl)).toBe(true)
  })

  it('refuse PLAIN without TLS, which would send the password as it is', () => {
    const plain = { mechanism: 'PLAIN', username: 'u', password: PASSWORD }
    const issues = issuesOf(() => loadConfig({ overrides: { kafka: { sasl: plain } } }))
    expect(issues).toEqual([expect.stringMatching(/^kafka\.sasl\.mechanism: PLAIN .* needs TLS/)])
    expect(issues.join('\n')).not.toContain(PASSWORD)
    const c = loadConfig({ overrides: { kafka: { sasl: plain, tls: { enabled: true } } } })
    expect(c.kafka.sasl?.mechanism).toBe('PLAIN')
  })

  it('report every incomplete pair, each naming its setting', () => {
    const issues = issuesOf(() =>
      loadConfig({
        overrides: {
          kafka: { tls: { certFile: tls.clientCertFile }, sasl: { mechanism: 'SCRAM-SHA-512', username: 'u' } },
        },
      }),
    )
    expect(issues).toEqual([
      expect.stringMatching(/^kafka\.tls\.keyFile: /),
      expect.stringMatching(/^kafka\.sasl\.password: .*XRC_KAFKA_SASL_PASSWORD/),
    ])
    expect(issuesOf(() => loadConfig({ env: { XRC_KAFKA_SASL_PASSWORD: PASSWORD } }))).toEqual([
      expect.stringMatching(/^kafka\.sasl\.mechanism: a SASL user name or password is set but no mechanism/),
    ])
    expect(issuesOf(() => loadConfig({ env: { XRC_KAFKA_SASL_MECHANISM: 'SCRAM-SHA-1' } }))).toEqual([
      expect.stringMatching(/^kafka\.sasl\.mechanism: /),
    ])
  })

  it('name the path of a missing, unreadable or malformed file', () => {
    const notPem = join(dir, 'not.pem')
    writeFileSync(notPem, 'hello')
    const issues = issuesOf(() =>
      loadConfig({
        overrides: {
          kafka: { tls: { caFile: join(dir, 'missing.pem'), certFile: dir, keyFile: notPem } },
        },
      }),
    )
    expect(issues).toEqual([
      `kafka.tls.caFile: cannot read ${join(dir, 'missing.pem')} (ENOENT)`,
      `kafka.tls.certFile: cannot read ${dir} (EISDIR)`,
      expect.stringMatching(new RegExp(`^kafka\\.tls\\.keyFile: ${notPem} is not a PEM key`)),
    ])
    expect(issuesOf(() => loadConfig({ overrides: { kafka: { tls: { caFile: tls.clientKeyFile } } } }))).toEqual([
      `kafka.tls.caFile: ${tls.clientKeyFile} is not a PEM certificate (no "BEGIN CERTIFICATE" block)`,
    ])
  })

  it('take a client certificate and key for mutual TLS, and a servername', () => {
    const c = loadConfig({
      env: {
        XRC_KAFKA_TLS_CA_FILE: tls.caFile,
        XRC_KAFKA_TLS_CERT_FILE: tls.clientCertFile,
        XRC_KAFKA_TLS_KEY_FILE: tls.clientKeyFile,
        XRC_KAFKA_TLS_SERVERNAME: 'kafka.internal',
      },
    })
    const ssl = kafkajsSecurity(c.kafka).ssl as { cert: string; key: string; servername: string }
    expect(ssl.cert).toContain('BEGIN CERTIFICATE')
    expect(ssl.key).toContain('PRIVATE KEY')
    expect(ssl.servername).toBe('kafka.internal')
    // the key's text is read for the client, never kept in the config
    expect(JSON.stringify(c)).not.toContain('PRIVATE KEY')
  })

  it('keep a password out of the error of a config file that is not JSON', () => {
    const file = join(dir, 'broken.json')
    writeFileSync(file, `{"kafka": {"sasl": {"password": ${PASSWORD}}}}`)
    const issues = issuesOf(() => loadConfig({ file }))
    expect(issues).toEqual([expect.stringMatching(new RegExp(`^config file ${file}: .*not valid JSON`))])
    expect(issues.join('\n')).not.toContain('Zq81')
  })
})
