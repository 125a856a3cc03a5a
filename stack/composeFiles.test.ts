/**
 * docker/compose.yml, docker/compose.cluster.yml, docker/compose.secure.yml
 * and the testcontainers setup must run Kafka as the local stack does: the
 * same nodes, ports, replication, retention and transaction settings, and
 * the secured broker as `xrc stack up --secure` runs it (TLS, SCRAM, the
 * authorizer). The containers' environment is generated from
 * stack/brokerSettings.ts; this compares the compose files with it, so
 * neither can drift from the other. No Docker engine runs here: this is
 * the guard, not a run of the files.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { loadConfig } from '../lib/config.js'
import {
  CONTAINER_MOUNTED_CONFIG,
  CONTAINER_SECRETS_DIR,
  CONTAINER_SECRET_FILES,
  SECURE_CONTAINER_ALIAS,
  SECURE_CONTAINER_COMMAND,
  containerAlias,
  containerNodeEnv,
  secureContainerEnv,
  secureContainerFiles,
  secureContainerProps,
  serverProperties,
} from './brokerSettings.js'
import type { TlsMaterial } from './certificates.js'
import { MOUNTED_CONFIG_FILE } from './composeTls.js'
import { REPO_ROOT, stackPaths } from './paths.js'
import { secureKafkaSetup, type SecureUsers } from './secureKafka.js'

interface ComposeService {
  image: string
  environment: Record<string, string>
  ports: string[]
  command?: string[]
  volumes?: string[]
}

function services(file: string): Record<string, ComposeService> {
  return (parse(readFileSync(join(REPO_ROOT, 'docker', file), 'utf8')) as { services: Record<string, ComposeService> })
    .services
}

const IMAGE = readFileSync(join(REPO_ROOT, 'test', 'kit', 'containers.ts'), 'utf8').match(
  /kafka: '(apache\/kafka:[^']+)'/,
)?.[1]

describe.each([
  { file: 'compose.yml', brokers: 1 },
  { file: 'compose.cluster.yml', brokers: 3 },
])('docker/$file', ({ file, brokers }) => {
  const config = loadConfig({ env: { XRC_STACK_BROKERS: String(brokers) } })
  const hostPorts = config.kafka.brokers.map((b) => Number(b.split(':')[1]))
  const all = services(file)

  it('has the nodes of `xrc stack up --brokers N`, each on its client port', () => {
    const kafka = Object.keys(all).filter((name) => all[name]?.image.startsWith('apache/kafka:'))
    expect(kafka).toEqual(hostPorts.map((_, i) => containerAlias(brokers, i + 1)))
    hostPorts.forEach((port, i) =>
      expect(all[containerAlias(brokers, i + 1)]?.ports).toEqual([`127.0.0.1:${port}:9092`]),
    )
  })

  it("gives each node the local stack's settings (brokerSettings.ts containerNodeEnv)", () => {
    hostPorts.forEach((port, i) => {
      const service = all[containerAlias(brokers, i + 1)]
      expect(service?.image).toBe(IMAGE)
      expect(service?.environment).toEqual(containerNodeEnv(brokers, i + 1, port))
    })
  })

  it('replicates as the local stack does: factor 3 and min ISR 2 on three nodes, 1 on one', () => {
    const env = all[containerAlias(brokers, 1)]?.environment ?? {}
    expect(env.KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR).toBe(brokers === 3 ? '3' : '1')
    expect(env.KAFKA_TRANSACTION_STATE_LOG_MIN_ISR).toBe(brokers === 3 ? '2' : '1')
    expect(env.KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR).toBe(brokers === 3 ? '3' : '1')
    expect(env.KAFKA_LOG_RETENTION_HOURS).toBe('24')
  })
})

/** Properties text as a record (the comment lines left out). */
function parseProperties(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  )
}

/**
 * What the apache/kafka image makes of a container's environment and its
 * mounted server.properties: KafkaDockerWrapper's names (KAFKA_ dropped,
 * '___' as '-', '__' as '_', '_' as '.'), after its configure script has
 * set the keystore's location and passwords from KAFKA_SSL_KEYSTORE_FILENAME
 * and the *_CREDENTIALS files; the environment's settings appended to the
 * mounted file's.
 */
function imageSettings(
  env: Record<string, string>,
  mounted: string,
  secretFile: (name: string) => string,
): Record<string, string> {
  const configured: Record<string, string> = {
    ...env,
    KAFKA_SSL_KEYSTORE_LOCATION: `${CONTAINER_SECRETS_DIR}/${env.KAFKA_SSL_KEYSTORE_FILENAME}`,
    KAFKA_SSL_KEY_PASSWORD: secretFile(env.KAFKA_SSL_KEY_CREDENTIALS ?? ''),
    KAFKA_SSL_KEYSTORE_PASSWORD: secretFile(env.KAFKA_SSL_KEYSTORE_CREDENTIALS ?? ''),
  }
  const excluded = new Set(['KAFKA_OPTS'])
  const fromEnv = Object.entries(configured)
    .filter(([k]) => k.startsWith('KAFKA_') && !excluded.has(k))
    .map(([k, v]) => [
      k
        .slice('KAFKA_'.length)
        .toLowerCase()
        .replace(/_/g, '.')
        .replace(/\.\.\./g, '-')
        .replace(/\.\./g, '_'),
      v,
    ])
  return { ...parseProperties(mounted), ...Object.fromEntries(fromEnv) }
}

describe('docker/compose.secure.yml', () => {
  const config = loadConfig({ env: {} })
  const port = config.stack.securePort
  const all = services('compose.secure.yml')
  const service = all[SECURE_CONTAINER_ALIAS]
  const users: SecureUsers = {
    admin: { name: 'admin', password: 'admin-pw' },
    stages: [
      { name: 'xrc-primary', password: 'primary-pw' },
      { name: 'xrc-mover', password: 'mover-pw' },
      { name: 'xrc-applier', password: 'applier-pw' },
    ],
  }
  const security = { storePassword: 'store-pw', admin: users.admin, users: users.stages, clientAuth: 'none' as const }
  const files = secureContainerFiles(port, { ...security, authorizer: true })

  it('adds one secured node beside the plain broker, on stack.securePort, with the secrets folder mounted', () => {
    expect(Object.keys(all)).toEqual([SECURE_CONTAINER_ALIAS])
    expect(service?.image).toBe(IMAGE)
    expect(service?.ports).toEqual([`127.0.0.1:${port}:9092`])
    expect(service?.volumes).toEqual([
      `./tls:${CONTAINER_SECRETS_DIR}:ro`,
      `./tls/${MOUNTED_CONFIG_FILE}:${CONTAINER_MOUNTED_CONFIG}:ro`,
    ])
    // compose substitutes variables: each $ of the command is written $$
    expect(service?.command).toEqual(SECURE_CONTAINER_COMMAND.map((arg) => arg.replace(/\$/g, '$$$$')))
  })

  it('has the environment of brokerSettings.ts (secureContainerEnv), and no password in it', () => {
    expect(service?.environment).toEqual(secureContainerEnv(port, users.admin))
    const text = readFileSync(join(REPO_ROOT, 'docker', 'compose.secure.yml'), 'utf8')
    expect(text).not.toMatch(/password=|_PASSWORD:|jaas/i)
  })

  it('runs, once the image has read it, with every setting of secureContainerProps, as its format does', () => {
    const secret = (name: string): string => {
      expect(name).toBe(CONTAINER_SECRET_FILES.storePassword)
      return security.storePassword
    }
    const expected = secureContainerProps(port, { ...security, authorizer: true })
    const running = imageSettings(service?.environment ?? {}, files.mountedConfig, secret)
    // the image's own inputs, kept by its wrapper as settings Kafka ignores
    for (const k of ['ssl.keystore.filename', 'ssl.keystore.credentials', 'ssl.key.credentials']) delete running[k]
    expect(running).toEqual(expected)
    expect(parseProperties(files.formatProperties)).toEqual(expected)
    expect(files.scramArgs.split('\n')).toContain('SCRAM-SHA-512=[name=xrc-mover,password=mover-pw]')
  })

  it("is what the testcontainers setup's secure option starts: the same environment, command and files", () => {
    const kit = readFileSync(join(REPO_ROOT, 'test', 'kit', 'containers.ts'), 'utf8')
    for (const use of [
      'withNetworkAliases(SECURE_CONTAINER_ALIAS)',
      'withEnvironment(secureContainerEnv(port, users.admin))',
      'target: CONTAINER_SECRETS_DIR',
      'target: CONTAINER_MOUNTED_CONFIG',
      'withCommand([...SECURE_CONTAINER_COMMAND])',
      'writeSecureContainerFiles(dir, port, tls, users)',
    ])
      expect(kit).toContain(use)
  })

  it('is secured as `xrc stack up --secure` secures its broker: only the addresses and file paths differ', () => {
    const paths = stackPaths(config)
    const material = {
      dir: '/tls',
      caFile: '/tls/ca.pem',
      keystoreFile: '/tls/broker.p12',
      truststoreFile: '/tls/truststore.p12',
      storePassword: security.storePassword,
    } as TlsMaterial
    const setup = secureKafkaSetup(config, paths, material, users)
    const [node] = setup.nodes
    if (node === undefined) throw new Error('no secured node')
    const local = parseProperties(serverProperties(setup.nodes, node, '/data', setup.security))
    const container = secureContainerProps(port, { ...security, authorizer: true })
    const where =
      /^(listeners|advertised\.listeners|controller\.quorum\.voters|inter\.broker\.listener\.name|listener\.security\.protocol\.map|log\.dirs|ssl\.(keystore|truststore)\.location|listener\.name\.internal\..*)$/
    const what = (props: Record<string, string>): Record<string, string> =>
      Object.fromEntries(Object.entries(props).filter(([k]) => !where.test(k)))
    expect(what(container)).toEqual(what(local))
    // the addresses: SASL_SSL for clients and between brokers, the controller PLAINTEXT on 127.0.0.1 only
    expect(container.listeners).toBe('SASL_SSL://:9092,INTERNAL://:29092,CONTROLLER://127.0.0.1:9093')
    expect(container['listener.security.protocol.map']).toBe('CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL,INTERNAL:SASL_SSL')
    expect(container['listener.name.internal.scram-sha-512.sasl.jaas.config']).toBe(
      local['listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config'],
    )
  })
})
