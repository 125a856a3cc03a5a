/**
 * The secured broker in a container (docker/compose.secure.yml and
 * test/kit/containers.ts's secure option): the same broker as `xrc stack
 * up --secure` (SASL_SSL, SCRAM-SHA-512 and PLAIN, the admin and a user per
 * stage, the StandardAuthorizer), its settings stack/brokerSettings.ts's.
 * `xrc stack compose-tls` makes what the compose file mounts, under
 * docker/tls/ (git-ignored, 0600; nothing of it is committed): the CA and
 * stores (stack/certificates.ts, the broker's certificate naming
 * kafka-secure too, as the brokers reach each other), the users and their
 * passwords, the settings with secrets in them, and an env file per stage;
 * `xrc stack compose-tls --grant` grants each stage its ACLs once the
 * broker runs.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Config, KafkaConnection } from '../lib/config.js'
import { saslSettings } from '../lib/kafkaSecuritySettings.js'
import { CONTAINER_SECRET_FILES, SECURE_CONTAINER_ALIAS, secureContainerFiles } from './brokerSettings.js'
import { makeTlsMaterial, type TlsMaterial } from './certificates.js'
import { REPO_ROOT } from './paths.js'
import { grantStageAcls, secureUsers, writeStageEnvFiles, type SecureUsers } from './secureKafka.js'

/** Where `xrc stack compose-tls` writes: docker/tls, which docker/compose.secure.yml mounts. */
export const COMPOSE_TLS_DIR = join(REPO_ROOT, 'docker', 'tls')

/** The files the compose file mounts besides the stores: the secret settings, and format's. */
export const MOUNTED_CONFIG_FILE = 'server.properties'

/**
 * Writes the secured container's files into `dir`, which holds `material`:
 * server.properties (the settings with secrets, mounted where the image
 * reads it), format.properties and scram.args (for the format before the
 * image starts).
 */
export function writeSecureContainerFiles(
  dir: string,
  hostPort: number,
  material: TlsMaterial,
  users: SecureUsers,
  authorizer = true,
): void {
  const files = secureContainerFiles(hostPort, {
    storePassword: material.storePassword,
    admin: users.admin,
    users: users.stages,
    authorizer,
    clientAuth: 'none',
  })
  const write = (name: string, text: string): void => writeFileSync(join(dir, name), text, { mode: 0o600 })
  write(MOUNTED_CONFIG_FILE, files.mountedConfig)
  write(CONTAINER_SECRET_FILES.formatProperties, files.formatProperties)
  write(CONTAINER_SECRET_FILES.scramArgs, files.scramArgs)
}

/**
 * `xrc stack compose-tls`: makes (or finds) the material under `dir` and
 * writes the secured container's files and the stages' env files (the
 * broker at 127.0.0.1:stack.securePort, as the local secured broker).
 */
export function writeComposeTls(
  config: Config,
  dir = COMPOSE_TLS_DIR,
): { dir: string; material: TlsMaterial; users: SecureUsers } {
  const material = makeTlsMaterial(dir, [SECURE_CONTAINER_ALIAS])
  const users = secureUsers(dir)
  writeSecureContainerFiles(dir, config.stack.securePort, material, users)
  writeStageEnvFiles(dir, `127.0.0.1:${config.stack.securePort}`, material, users)
  return { dir, material, users }
}

/** How the admin reaches the secured container from the host. */
export function composeAdminConnection(config: Config, material: TlsMaterial, users: SecureUsers): KafkaConnection {
  return {
    brokers: [`127.0.0.1:${config.stack.securePort}`],
    tls: { caFile: material.caFile, checkServerName: true },
    sasl: saslSettings('SCRAM-SHA-512', users.admin.name, users.admin.password),
  }
}

/** `xrc stack compose-tls --grant`: each stage's ACLs for session.name on the running secured container. */
export async function grantComposeAcls(
  config: Config,
  { material, users }: { material: TlsMaterial; users: SecureUsers },
): Promise<void> {
  await grantStageAcls(composeAdminConnection(config, material, users), config.session.name)
}
