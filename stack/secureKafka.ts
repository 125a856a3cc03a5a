/**
 * The secured local broker (`xrc stack up --secure`): one KRaft node at
 * stack.securePort whose only client listener is SASL_SSL, SCRAM-SHA-512
 * users for the admin and for each stage (xrc-primary, xrc-mover,
 * xrc-applier), and the StandardAuthorizer with each stage granted its ACLs
 * for the configured session (lib/kafka/stageAcls.ts), beside the plain
 * broker. Its CA, stores and passwords are made on the first `up` under
 * stack.dir/tls (0600; never committed), with an env file per user that
 * points a service at it.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Config, KafkaConnection } from '../lib/config.js'
import { STAGES, aclEntries, connectAdmin, createKafkaClient, stageAcls } from '../lib/kafka/index.js'
import { silentLogger } from '../lib/logger.js'
import type { ScramUser } from './brokerSettings.js'
import { makeTlsMaterial, type TlsMaterial } from './certificates.js'
import { localNodes, type KafkaSetup } from './kafka.js'
import type { StackPaths } from './paths.js'

/** The secured broker's users: the admin (a super user) and one per stage. */
export interface SecureUsers {
  admin: ScramUser
  stages: readonly ScramUser[]
}

/** Where the secured broker's TLS material, passwords and env files live. */
export function secureDir(paths: StackPaths): string {
  return join(paths.root, 'tls')
}

/** The secured broker's setup, from its material and users (no I/O). */
export function secureKafkaSetup(
  config: Config,
  paths: StackPaths,
  material: TlsMaterial,
  users: SecureUsers,
): KafkaSetup {
  return {
    nodes: localNodes(paths.root, [
      { port: config.stack.securePort, controllerPort: config.stack.secureControllerPort },
    ]),
    heapMb: config.stack.kafkaHeapMb,
    libs: paths.kafkaLibs,
    logsDir: join(paths.root, 'logs'),
    startTimeoutMs: config.stack.startTimeoutMs,
    security: {
      keystoreFile: material.keystoreFile,
      truststoreFile: material.truststoreFile,
      storePassword: material.storePassword,
      caFile: material.caFile,
      admin: users.admin,
      users: users.stages,
      authorizer: true,
      clientAuth: 'none',
    },
  }
}

/**
 * The secured broker's setup with its material and users, made on the
 * first call (`make`), found afterwards; undefined when there are none and
 * `make` is false (it was never started: nothing to stop or report).
 */
export function secureKafka(config: Config, paths: StackPaths, make: boolean): KafkaSetup | undefined {
  const dir = secureDir(paths)
  if (!make && !existsSync(join(dir, 'users.json'))) return undefined
  const material = makeTlsMaterial(dir)
  const users = secureUsers(dir)
  const setup = secureKafkaSetup(config, paths, material, users)
  const node = setup.nodes[0]
  if (make && node !== undefined) writeStageEnvFiles(dir, `${node.host}:${node.port}`, material, users)
  return setup
}

/** The users of `dir`'s users.json, made (random passwords, 0600) when it has none. */
export function secureUsers(dir: string): SecureUsers {
  const usersFile = join(dir, 'users.json')
  if (existsSync(usersFile)) return JSON.parse(readFileSync(usersFile, 'utf8')) as SecureUsers
  const user = (name: string): ScramUser => ({ name, password: randomBytes(18).toString('hex') })
  const users = { admin: user('admin'), stages: STAGES.map((s) => user(`xrc-${s}`)) }
  writeFileSync(usersFile, JSON.stringify(users, null, 2), { mode: 0o600 })
  return users
}

/** An env file per stage user in `dir` that points a service at `broker` as that user (`set -a; . FILE`). */
export function writeStageEnvFiles(dir: string, broker: string, material: TlsMaterial, users: SecureUsers): void {
  for (const u of users.stages)
    writeFileSync(
      join(dir, `${u.name}.env`),
      [
        `KAFKA_BROKERS=${broker}`,
        `XRC_KAFKA_TLS_CA_FILE=${material.caFile}`,
        'XRC_KAFKA_SASL_MECHANISM=SCRAM-SHA-512',
        `XRC_KAFKA_SASL_USERNAME=${u.name}`,
        `XRC_KAFKA_SASL_PASSWORD=${u.password}`,
        '',
      ].join('\n'),
      { mode: 0o600 },
    )
}

/**
 * Grants each stage's user its ACLs for `session` (adding an ACL that
 * exists changes nothing), as the admin of `connection`.
 */
export async function grantStageAcls(connection: KafkaConnection, session: string): Promise<void> {
  const kafka = createKafkaClient({ connection, clientId: 'xrc-stack', logger: silentLogger, logs: 'none' })
  const admin = await connectAdmin(kafka)
  try {
    const acl = STAGES.flatMap((stage) => aclEntries(stageAcls(session, stage), `User:xrc-${stage}`))
    await admin.createAcls(acl)
  } finally {
    await admin.disconnect()
  }
}
