/**
 * The integration stack in containers (XRC_TEST_STACK=testcontainers), for
 * machines with a Docker engine and no Java. Same images and settings as
 * docker/compose.yml (compose.cluster.yml with XRC_STACK_BROKERS=3): the
 * brokers' environment is stack/brokerSettings.ts's containerNodeEnv, as
 * in those files. With `secure`, also the secured broker of
 * docker/compose.secure.yml (`xrc stack up --secure`'s: SASL_SSL, SCRAM,
 * ACLs), its files made in a temp folder as `xrc stack compose-tls` makes
 * them. CI runs the local stack only (no Docker engine): this has not run
 * there; stack/composeFiles.test.ts compares the settings it uses. Keep it
 * small.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { GenericContainer, Network, Wait, type StartedNetwork, type StartedTestContainer } from 'testcontainers'
import {
  CONTAINER_MOUNTED_CONFIG,
  CONTAINER_SECRETS_DIR,
  SECURE_CONTAINER_ALIAS,
  SECURE_CONTAINER_COMMAND,
  containerAlias,
  containerNodeEnv,
  secureContainerEnv,
} from '../../stack/brokerSettings.js'
import { makeTlsMaterial, type TlsMaterial } from '../../stack/certificates.js'
import { MOUNTED_CONFIG_FILE, writeSecureContainerFiles } from '../../stack/composeTls.js'
import { secureUsers, type SecureUsers } from '../../stack/secureKafka.js'
import { freePort } from './ports.js'
import type { StackInfo } from './stackInfo.js'

export const IMAGES = {
  kafka: 'apache/kafka:4.1.1',
  registry: 'apicurio/apicurio-registry:3.0.9',
  postgres: 'postgres:15',
} as const

/** The secured broker container: its SASL_SSL address, TLS files and users (admin, one per stage). */
export interface SecureContainer {
  brokers: string[]
  tls: TlsMaterial
  users: SecureUsers
}

/**
 * Starts the stack's containers: PostgreSQL, `brokers` Kafka nodes (1, or a
 * cluster of 3) and the registry; with `secure`, the secured broker too.
 */
export async function startContainers(
  brokers = 1,
  options: { secure?: boolean } = {},
): Promise<{ info: StackInfo; secure?: SecureContainer; stop: () => Promise<void> }> {
  const network = await new Network().start()
  const started: StartedTestContainer[] = []
  const folders: string[] = []
  const removeFolders = (): void => {
    for (const dir of folders) rmSync(dir, { recursive: true, force: true })
  }
  try {
    const postgres = await new GenericContainer(IMAGES.postgres)
      .withNetwork(network)
      .withNetworkAliases('postgres')
      .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust', POSTGRES_DB: 'xrc_registry' })
      .withExposedPorts(5432)
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .start()
    started.push(postgres)
    const kafkaPorts = await startKafkaContainers(network, brokers, started)
    const registry = await new GenericContainer(IMAGES.registry)
      .withNetwork(network)
      .withEnvironment({
        APICURIO_STORAGE_KIND: 'sql',
        APICURIO_STORAGE_SQL_KIND: 'postgresql',
        APICURIO_DATASOURCE_URL: 'jdbc:postgresql://postgres:5432/xrc_registry',
        APICURIO_DATASOURCE_USERNAME: 'postgres',
        APICURIO_DATASOURCE_PASSWORD: 'postgres',
      })
      .withExposedPorts(8080)
      .withWaitStrategy(Wait.forHttp('/apis/ccompat/v7/subjects', 8080))
      .start()
    started.push(registry)
    const secure = options.secure ? await startSecureKafkaContainer(network, started, folders) : undefined
    return {
      ...(secure === undefined ? {} : { secure }),
      info: {
        kafkaBrokers: kafkaPorts.map((p) => `127.0.0.1:${p}`),
        registryUrl: `http://${registry.getHost()}:${registry.getMappedPort(8080)}/apis/ccompat/v7`,
        databaseUrl: `postgres://postgres@${postgres.getHost()}:${postgres.getMappedPort(5432)}/postgres`,
      },
      stop: async () => {
        for (const c of started.reverse()) await c.stop()
        await network.stop()
        removeFolders()
      },
    }
  } catch (err) {
    for (const c of started.reverse()) await c.stop().catch(() => undefined)
    await network.stop().catch(() => undefined)
    removeFolders()
    throw err
  }
}

/**
 * The secured broker as docker/compose.secure.yml runs it, on a free host
 * port: its TLS material, users and secret settings made in a temp folder
 * (`folders`), copied into the image's secrets folder and mounted config,
 * the same environment (secureContainerEnv) and command.
 */
async function startSecureKafkaContainer(
  network: StartedNetwork,
  started: StartedTestContainer[],
  folders: string[],
): Promise<SecureContainer> {
  const root = mkdtempSync(join(tmpdir(), 'xrc-secure-container-'))
  folders.push(root)
  const dir = join(root, 'tls')
  const tls = makeTlsMaterial(dir, [SECURE_CONTAINER_ALIAS])
  const users = secureUsers(dir)
  const port = await freePort()
  writeSecureContainerFiles(dir, port, tls, users)
  // the image runs Kafka as appuser: the copies are readable by it (inside the container only)
  const container = await new GenericContainer(IMAGES.kafka)
    .withNetwork(network)
    .withNetworkAliases(SECURE_CONTAINER_ALIAS)
    .withExposedPorts({ container: 9092, host: port })
    .withEnvironment(secureContainerEnv(port, users.admin))
    .withCopyDirectoriesToContainer([{ source: dir, target: CONTAINER_SECRETS_DIR, mode: 0o644 }])
    .withCopyFilesToContainer([
      { source: join(dir, MOUNTED_CONFIG_FILE), target: CONTAINER_MOUNTED_CONFIG, mode: 0o644 },
    ])
    .withCommand([...SECURE_CONTAINER_COMMAND])
    .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
    .start()
  started.push(container)
  return { brokers: [`127.0.0.1:${port}`], tls, users }
}

/**
 * Starts the Kafka nodes together (a quorum of three forms only once two answer), each advertising the host port it
 * is reached on, so each binds its port exactly; returns those ports.
 */
async function startKafkaContainers(
  network: StartedNetwork,
  brokers: number,
  started: StartedTestContainer[],
): Promise<number[]> {
  const ports: number[] = []
  for (let i = 0; i < brokers; i++) {
    let port = await freePort()
    while (ports.includes(port)) port = await freePort()
    ports.push(port)
  }
  const nodes = await Promise.all(
    ports.map((port, i) =>
      new GenericContainer(IMAGES.kafka)
        .withNetwork(network)
        .withNetworkAliases(containerAlias(brokers, i + 1))
        .withExposedPorts({ container: 9092, host: port })
        .withEnvironment(containerNodeEnv(brokers, i + 1, port))
        .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
        .start(),
    ),
  )
  started.push(...nodes)
  return ports
}
