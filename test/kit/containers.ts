/**
 * The integration stack in containers (XRC_TEST_STACK=testcontainers), for
 * machines with a Docker engine and no Java. Same images and settings as
 * docker/compose.yml. CI runs the local stack only: keep this small.
 */
import { GenericContainer, Network, Wait, type StartedTestContainer } from 'testcontainers'
import { freePort } from './ports.js'
import type { StackInfo } from './stackInfo.js'

export const IMAGES = {
  kafka: 'apache/kafka:4.1.1',
  registry: 'apicurio/apicurio-registry:3.0.9',
  postgres: 'postgres:15',
} as const

export async function startContainers(): Promise<{ info: StackInfo; stop: () => Promise<void> }> {
  const network = await new Network().start()
  const started: StartedTestContainer[] = []
  try {
    const postgres = await new GenericContainer(IMAGES.postgres)
      .withNetwork(network)
      .withNetworkAliases('postgres')
      .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust', POSTGRES_DB: 'xrc_registry' })
      .withExposedPorts(5432)
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .start()
    started.push(postgres)
    // the broker advertises the host port it is reached on, so bind it exactly
    const kafkaPort = await freePort()
    const kafka = await new GenericContainer(IMAGES.kafka)
      .withNetwork(network)
      .withExposedPorts({ container: 9092, host: kafkaPort })
      .withEnvironment({
        KAFKA_NODE_ID: '1',
        KAFKA_PROCESS_ROLES: 'broker,controller',
        KAFKA_LISTENERS: 'PLAINTEXT://:9092,CONTROLLER://:9093',
        KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://127.0.0.1:${kafkaPort}`,
        KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
        KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
        KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
        KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
        KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
        KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
      })
      .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
      .start()
    started.push(kafka)
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
    return {
      info: {
        kafkaBrokers: [`127.0.0.1:${kafkaPort}`],
        registryUrl: `http://${registry.getHost()}:${registry.getMappedPort(8080)}/apis/ccompat/v7`,
        databaseUrl: `postgres://postgres@${postgres.getHost()}:${postgres.getMappedPort(5432)}/postgres`,
      },
      stop: async () => {
        for (const c of started.reverse()) await c.stop()
        await network.stop()
      },
    }
  } catch (err) {
    for (const c of started.reverse()) await c.stop().catch(() => undefined)
    await network.stop().catch(() => undefined)
    throw err
  }
}
