/**
 * A private secured Kafka for one test file: a single KRaft node of the
 * local stack's jars on free ports, clients on SASL_SSL (TLS with a CA made
 * now by openssl, SCRAM-SHA-512 and PLAIN users created when its storage is
 * formatted), optionally Kafka's ACLs (StandardAuthorizer). Its data and
 * certificates live in a temp folder, removed whole by remove(). The shared
 * broker is never touched.
 *
 * Imports nothing from vitest.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig, type KafkaConnection } from '../../lib/config.js'
import { aclEntries, createKafkaClient, type AclGrant, type KafkaAdmin } from '../../lib/kafka/index.js'
import { silentLogger } from '../../lib/logger.js'
import type { ScramUser } from '../../stack/brokerSettings.js'
import { makeTlsMaterial, type TlsMaterial } from '../../stack/certificates.js'
import {
  kafkaNodeService,
  localNodes,
  prepareNodes,
  setupConnection,
  startNode,
  waitForKafka,
  type KafkaSetup,
} from '../../stack/kafka.js'
import { stackPaths } from '../../stack/paths.js'
import { stopService } from '../../stack/processes.js'
import { freePort } from './ports.js'

export interface SecureKafka {
  /** The SASL_SSL address. */
  brokers: string[]
  tls: TlsMaterial
  /** The users created at format time (not the admin), by name. */
  users: Readonly<Record<string, ScramUser>>
  /** config.kafka settings for `user` (SCRAM-SHA-512 over TLS with the CA), as a config file takes them. */
  settingsFor(
    user: string,
    overrides?: { password?: string; caFile?: string; mechanism?: string },
  ): Record<string, unknown>
  /** The admin's connection (a super user). */
  admin: KafkaConnection
  /** Allows `user` what `grants` name (Kafka ACLs; the broker must run the authorizer). */
  grant(user: string, grants: readonly AclGrant[]): Promise<void>
  /** Runs `fn` with an admin client, disconnected after. */
  withAdmin<T>(fn: (admin: KafkaAdmin) => Promise<T>): Promise<T>
  /** The broker's log file (a refused login is one "Failed authentication" line: stack/log4j2.properties). */
  logFile: string
  /** Stops the broker and removes its folder. */
  remove(): Promise<void>
}

/** Starts a secured single-node Kafka with SCRAM users `users` (passwords made here); waits until it answers. */
export async function startSecureKafka(options: {
  users: readonly string[]
  authorizer?: boolean
}): Promise<SecureKafka> {
  const root = mkdtempSync(join(tmpdir(), 'xrc-secure-kafka-'))
  const tls = makeTlsMaterial(join(root, 'tls'))
  const port = await freePort()
  let controllerPort = await freePort()
  while (controllerPort === port) controllerPort = await freePort()
  const password = (): string => randomBytes(12).toString('hex')
  const users = Object.fromEntries(options.users.map((name) => [name, { name, password: password() }]))
  const setup: KafkaSetup = {
    nodes: localNodes(root, [{ port, controllerPort }]),
    heapMb: 384,
    libs: stackPaths(loadConfig()).kafkaLibs,
    logsDir: join(root, 'logs'),
    startTimeoutMs: 150_000,
    security: {
      keystoreFile: tls.keystoreFile,
      truststoreFile: tls.truststoreFile,
      storePassword: tls.storePassword,
      caFile: tls.caFile,
      admin: { name: 'admin', password: password() },
      users: Object.values(users),
      authorizer: options.authorizer ?? false,
      clientAuth: 'none',
    },
  }
  const node = setup.nodes[0]
  if (node === undefined) throw new Error('no node in the secured setup')
  const remove = async (): Promise<void> => {
    await stopService(kafkaNodeService(node), 10_000)
    rmSync(root, { recursive: true, force: true })
  }
  try {
    await prepareNodes(setup)
    startNode(setup, node)
    await waitForKafka(setup)
  } catch (err) {
    await remove()
    throw err
  }
  const admin = setupConnection(setup)
  const withAdmin = async <T>(fn: (a: KafkaAdmin) => Promise<T>): Promise<T> => {
    const a = createKafkaClient({
      connection: admin,
      clientId: 'xrc-secure-kit',
      logger: silentLogger,
      logs: 'none',
    }).admin()
    await a.connect()
    try {
      return await fn(a)
    } finally {
      await a.disconnect().catch(() => undefined)
    }
  }
  return {
    brokers: [...admin.brokers],
    tls,
    users,
    admin,
    settingsFor(name, o = {}) {
      const user = users[name]
      if (user === undefined) throw new Error(`no user ${name} on the secured broker`)
      return {
        brokers: [...admin.brokers],
        tls: { caFile: o.caFile ?? tls.caFile },
        sasl: { mechanism: o.mechanism ?? 'SCRAM-SHA-512', username: name, password: o.password ?? user.password },
      }
    },
    async grant(user, grants) {
      await withAdmin((a) => a.createAcls(aclEntries(grants, `User:${user}`)))
    },
    withAdmin,
    logFile: node.logFile,
    remove,
  }
}
