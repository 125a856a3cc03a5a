/**
 * The Kafka server settings of the local stack, as pure data: one place
 * that the local processes (stack/kafka.ts), docker/compose*.yml and the
 * testcontainers setup (test/kit/containers.ts) all follow, and that a unit
 * test compares them with so they cannot drift.
 *
 * Two parts: the cluster's policy (replication of the internal topics,
 * min.insync.replicas, retention, segments, transactions), the same on every
 * node and every way of running it; and each node's own network settings
 * (node id, listeners, the static KRaft quorum), which differ between local
 * processes and containers.
 */
import { defaultMinInsyncReplicas, defaultReplicationFactor } from '../lib/kafka/replication.js'

/** One combined broker+controller node: its id and where it listens. */
export interface BrokerNode {
  nodeId: number
  /** Host the node advertises to clients. */
  host: string
  port: number
  /** Host and port of its KRaft controller listener, as the other nodes reach it. */
  controllerHost: string
  controllerPort: number
}

/** How long the controller waits for a broker's heartbeat before it fences the broker (Kafka's default), ms. */
export const BROKER_SESSION_TIMEOUT_MS = 9000

/** The settings every node of a cluster of `brokers` shares, wherever it runs. */
export function clusterPolicy(brokers: number): Record<string, string> {
  const factor = String(defaultReplicationFactor(brokers))
  const minIsr = String(defaultMinInsyncReplicas(defaultReplicationFactor(brokers)))
  return {
    'num.partitions': '1',
    'default.replication.factor': factor,
    'min.insync.replicas': minIsr,
    'offsets.topic.replication.factor': factor,
    'offsets.topic.num.partitions': '4',
    'transaction.state.log.replication.factor': factor,
    'transaction.state.log.min.isr': minIsr,
    'transaction.state.log.num.partitions': '4',
    'share.coordinator.state.topic.replication.factor': factor,
    'share.coordinator.state.topic.min.isr': minIsr,
    // an out-of-sync replica never becomes leader: an acknowledged write is never given up for availability
    'unclean.leader.election.enable': 'false',
    // a broker the controller has not heard from for this long is fenced: out of every ISR, its leaderships moved
    'broker.session.timeout.ms': String(BROKER_SESSION_TIMEOUT_MS),
    'group.initial.rebalance.delay.ms': '0',
    'auto.create.topics.enable': 'false',
    'delete.topic.enable': 'true',
    // tests create and delete many small topics: keep segments small
    'log.segment.bytes': '67108864',
    'log.retention.hours': '24',
    'transaction.max.timeout.ms': '900000',
  }
}

/** The static quorum: every node a voter (`id@host:port`, comma-separated). */
export function quorumVoters(nodes: readonly BrokerNode[]): string {
  return nodes.map((n) => `${n.nodeId}@${n.controllerHost}:${n.controllerPort}`).join(',')
}

/** A listener for the traffic between brokers when clients reach them at another address (containers). */
export interface InternalListener {
  host: string
  port: number
}

/**
 * The network settings of `node`: PLAINTEXT for clients (and between
 * brokers, unless `internal` gives them their own listener), CONTROLLER for
 * the quorum. `bind` is the listeners' host ('' binds every interface, as in
 * a container) and ports.
 */
export function nodeNetwork(
  nodes: readonly BrokerNode[],
  node: BrokerNode,
  bind: { host: string; port: number; controllerPort: number },
  internal?: InternalListener,
): Record<string, string> {
  const inner = internal ? `,INTERNAL://${bind.host}:${internal.port}` : ''
  return {
    'process.roles': 'broker,controller',
    'node.id': String(node.nodeId),
    'controller.quorum.voters': quorumVoters(nodes),
    listeners: `PLAINTEXT://${bind.host}:${bind.port}${inner},CONTROLLER://${bind.host}:${bind.controllerPort}`,
    'advertised.listeners':
      `PLAINTEXT://${node.host}:${node.port}` + (internal ? `,INTERNAL://${internal.host}:${internal.port}` : ''),
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': internal ? 'INTERNAL' : 'PLAINTEXT',
    'listener.security.protocol.map':
      'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT' + (internal ? ',INTERNAL:PLAINTEXT' : ''),
  }
}

/** A SCRAM user of a secured cluster, created when its storage is formatted. */
export interface ScramUser {
  name: string
  password: string
}

/**
 * A secured cluster: clients (and the brokers among themselves) on a
 * SASL_SSL listener, SCRAM-SHA-512 and PLAIN; optionally Kafka's ACLs.
 */
export interface BrokerSecurity {
  /** PKCS#12 keystore (the broker's key and chain) and truststore (the CA), with their one password. */
  keystoreFile: string
  truststoreFile: string
  storePassword: string
  /** PEM certificate of that CA, for the stack's own clients (its probes and admin). */
  caFile: string
  /** The super user: the brokers log in to each other as it, and the admin tools use it. */
  admin: ScramUser
  /** Users created at format time (SCRAM-SHA-512), each also a PLAIN user. The admin is added. */
  users: readonly ScramUser[]
  /** Whether the StandardAuthorizer enforces ACLs (the admin and the controller listener are super users). */
  authorizer: boolean
  /** ssl.client.auth: whether a client certificate is asked for. */
  clientAuth: 'none' | 'requested' | 'required'
}

/** The SASL mechanisms a secured cluster offers. */
export const SECURE_MECHANISMS = ['SCRAM-SHA-512', 'PLAIN'] as const

/**
 * `network` (nodeNetwork's) with the client listener made SASL_SSL (and
 * the brokers' INTERNAL listener, where containers have one), and what that
 * needs: the stores, the mechanisms, the brokers' own login, and
 * the authorizer. The controller listener stays PLAINTEXT on 127.0.0.1 (a
 * KRaft controller cannot take SCRAM: its credentials live in the metadata
 * it serves), so its principal, ANONYMOUS, is a super user when ACLs are on.
 */
export function securedNetwork(network: Record<string, string>, security: BrokerSecurity): Record<string, string> {
  const sasl = (value: string): string => value.replace(/\bPLAINTEXT:\/\//g, 'SASL_SSL://')
  const users = checkedUsers(security)
  const { admin } = security
  // containers' brokers talk to each other on their own listener (INTERNAL): secured as the clients' one
  const internal = network['inter.broker.listener.name'] === 'INTERNAL'
  const jaas = (listener: string): Record<string, string> => ({
    [`listener.name.${listener}.scram-sha-512.sasl.jaas.config`]:
      'org.apache.kafka.common.security.scram.ScramLoginModule required ' +
      `username="${admin.name}" password="${admin.password}";`,
    [`listener.name.${listener}.plain.sasl.jaas.config`]:
      'org.apache.kafka.common.security.plain.PlainLoginModule required ' +
      `username="${admin.name}" password="${admin.password}" ` +
      users.map((u) => `user_${u.name}="${u.password}"`).join(' ') +
      ';',
  })
  return {
    ...network,
    listeners: sasl(network.listeners ?? ''),
    'advertised.listeners': sasl(network['advertised.listeners'] ?? ''),
    'inter.broker.listener.name': internal ? 'INTERNAL' : 'SASL_SSL',
    'listener.security.protocol.map': 'CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL' + (internal ? ',INTERNAL:SASL_SSL' : ''),
    'sasl.enabled.mechanisms': SECURE_MECHANISMS.join(','),
    'sasl.mechanism.inter.broker.protocol': 'SCRAM-SHA-512',
    ...jaas('sasl_ssl'),
    ...(internal ? jaas('internal') : {}),
    'ssl.keystore.type': 'PKCS12',
    'ssl.keystore.location': security.keystoreFile,
    'ssl.keystore.password': security.storePassword,
    'ssl.key.password': security.storePassword,
    'ssl.truststore.type': 'PKCS12',
    'ssl.truststore.location': security.truststoreFile,
    'ssl.truststore.password': security.storePassword,
    'ssl.client.auth': security.clientAuth,
    ...(security.authorizer
      ? {
          'authorizer.class.name': 'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
          'super.users': `User:${admin.name};User:ANONYMOUS`,
          'allow.everyone.if.no.acl.found': 'false',
        }
      : {}),
  }
}

/**
 * Every user of a secured cluster, the admin first. Names and passwords go
 * into a JAAS line of a properties file and a StorageTool argument, where
 * quotes, backslashes, commas and brackets mean something: they are refused.
 */
function checkedUsers(security: Pick<BrokerSecurity, 'admin' | 'users'>): ScramUser[] {
  const users = [security.admin, ...security.users]
  for (const u of users)
    if (!/^[A-Za-z0-9._-]+$/.test(u.name) || !/^[A-Za-z0-9._~-]+$/.test(u.password))
      throw new Error(`SCRAM user "${u.name}": name or password has a character the broker's settings cannot hold`)
  return users
}

/** StorageTool format's arguments that create the SCRAM users of a secured cluster. */
export function scramFormatArgs(security: Pick<BrokerSecurity, 'admin' | 'users'>): string[] {
  return checkedUsers(security).flatMap((u) => ['--add-scram', `SCRAM-SHA-512=[name=${u.name},password=${u.password}]`])
}

/**
 * A node's server.properties for a local process: its network (secured
 * when `security` is given), the policy and its log folder.
 */
export function serverProperties(
  nodes: readonly BrokerNode[],
  node: BrokerNode,
  logDir: string,
  security?: BrokerSecurity,
): string {
  const network = nodeNetwork(nodes, node, { host: node.host, port: node.port, controllerPort: node.controllerPort })
  const props = {
    ...(security === undefined ? network : securedNetwork(network, security)),
    'log.dirs': logDir,
    ...clusterPolicy(nodes.length),
  }
  return [
    '# written by `xrc stack up`; edit stack/brokerSettings.ts instead',
    ...Object.entries(props).map(([k, v]) => `${k}=${v}`),
    '',
  ].join('\n')
}

/**
 * Settings as the apache/kafka image's environment: KAFKA_ and the name in
 * capitals, '.' as '_', '_' as '__' and '-' as '___' (the image's rule).
 */
export function dockerEnv(props: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(props).map(([k, v]) => [
      `KAFKA_${k.replace(/_/g, '__').replace(/-/g, '___').replace(/\./g, '_').toUpperCase()}`,
      v,
    ]),
  )
}

/** The one cluster id of a containerised cluster (the image formats each node's storage with it). */
export const CONTAINER_CLUSTER_ID = '5L6g3nShT-eMCtK--X86sw'

/** Network alias of node `nodeId` of a containerised cluster of `brokers`: kafka, or kafka-1, kafka-2... */
export function containerAlias(brokers: number, nodeId: number): string {
  return brokers === 1 ? 'kafka' : `kafka-${nodeId}`
}

/**
 * The environment of node `nodeId` of a cluster of `brokers` run as
 * apache/kafka containers on one network (docker/compose*.yml and
 * test/kit/containers.ts): clients on the host reach it at
 * 127.0.0.1:`hostPort` (container port 9092), brokers reach each other at
 * alias:29092, the quorum at alias:9093; the policy is the local stack's.
 */
export function containerNodeEnv(brokers: number, nodeId: number, hostPort: number): Record<string, string> {
  const nodes = Array.from({ length: brokers }, (_, i) => ({
    nodeId: i + 1,
    host: '127.0.0.1',
    port: hostPort,
    controllerHost: containerAlias(brokers, i + 1),
    controllerPort: 9093,
  }))
  const node = nodes[nodeId - 1]
  if (node === undefined) throw new Error(`no node ${nodeId} in a cluster of ${brokers}`)
  const network = nodeNetwork(
    nodes,
    node,
    { host: '', port: 9092, controllerPort: 9093 },
    { host: containerAlias(brokers, nodeId), port: 29092 },
  )
  return { CLUSTER_ID: CONTAINER_CLUSTER_ID, ...dockerEnv({ ...network, ...clusterPolicy(brokers) }) }
}
/** Network alias of the secured broker's container, beside the plain `kafka` (as `xrc stack up --secure`). */
export const SECURE_CONTAINER_ALIAS = 'kafka-secure'

/** The apache/kafka image's folder for TLS files (its configure script reads the keystore there). */
export const CONTAINER_SECRETS_DIR = '/etc/kafka/secrets'

/** The image's data volume: the secured broker's log.dirs, formatted with its SCRAM users before the image starts. */
export const CONTAINER_DATA_DIR = '/var/lib/kafka/data'

/** The image reads a server.properties mounted here and appends the environment's settings to it. */
export const CONTAINER_MOUNTED_CONFIG = '/mnt/shared/config/server.properties'

/**
 * Files of the secured container's secrets folder, made by
 * `xrc stack compose-tls` (stack/composeTls.ts) or the testcontainers
 * setup: names as stack/certificates.ts writes them, and two of our own.
 */
export const CONTAINER_SECRET_FILES = {
  keystore: 'broker.p12',
  truststore: 'truststore.p12',
  /** The stores' password (certificates.ts's file): the image reads the keystore's and key's passwords from it. */
  storePassword: 'store.password',
  /** Every setting, for kafka-storage format. */
  formatProperties: 'format.properties',
  /** kafka-storage format's --add-scram arguments, one a line. */
  scramArgs: 'scram.args',
} as const

/** A setting whose value holds a password: never in a container's environment (compose files are committed). */
export function isSecretSetting(key: string): boolean {
  return /(^|\.)password$|\.sasl\.jaas\.config$/.test(key)
}

/**
 * The settings of the secured broker in a container, every one: one
 * node's container network (clients on the host at 127.0.0.1:`hostPort`,
 * the brokers' own listener at kafka-secure:29092, the controller on the
 * container's 127.0.0.1) made SASL_SSL by securedNetwork, as `xrc stack up --secure` makes its
 * broker's (the same mechanisms, admin, users, authorizer and client
 * auth), the stores in the secrets folder, the data on the image's volume.
 */
export function secureContainerProps(
  hostPort: number,
  security: Omit<BrokerSecurity, 'keystoreFile' | 'truststoreFile' | 'caFile'>,
): Record<string, string> {
  // one node, its controller on the container's 127.0.0.1 as the local secured broker's is on the host's
  const node = { nodeId: 1, host: '127.0.0.1', port: hostPort, controllerHost: '127.0.0.1', controllerPort: 9093 }
  const network = nodeNetwork(
    [node],
    node,
    { host: '', port: 9092, controllerPort: 9093 },
    { host: SECURE_CONTAINER_ALIAS, port: 29092 },
  )
  network.listeners = (network.listeners ?? '').replace('CONTROLLER://:', 'CONTROLLER://127.0.0.1:')
  const dir = CONTAINER_SECRETS_DIR
  const secured = securedNetwork(network, {
    ...security,
    keystoreFile: `${dir}/${CONTAINER_SECRET_FILES.keystore}`,
    truststoreFile: `${dir}/${CONTAINER_SECRET_FILES.truststore}`,
    caFile: `${dir}/ca.pem`,
  })
  return { ...secured, 'log.dirs': CONTAINER_DATA_DIR, ...clusterPolicy(1) }
}

/** What the image's configure script sets from KAFKA_SSL_KEYSTORE_FILENAME and its *_CREDENTIALS files. */
const SET_BY_IMAGE = new Set(['ssl.keystore.location', 'ssl.keystore.password', 'ssl.key.password'])

/**
 * The secured container's environment: every setting of
 * secureContainerProps but the secrets, in the image's terms. The image's
 * configure script, when a listener is SSL, takes the keystore as a file
 * name in its secrets folder and the keystore's and key's passwords as
 * files there (so ssl.keystore.location and those passwords are not set
 * here), and when one is SASL insists on KAFKA_OPTS (any value: the JAAS
 * settings are per listener, in the mounted server.properties).
 */
export function secureContainerEnv(hostPort: number, admin: ScramUser): Record<string, string> {
  // the environment holds no password: any stand-in gives the same one
  const props = secureContainerProps(hostPort, {
    storePassword: 'x',
    admin,
    users: [],
    authorizer: true,
    clientAuth: 'none',
  })
  const kept = Object.fromEntries(Object.entries(props).filter(([k]) => !isSecretSetting(k) && !SET_BY_IMAGE.has(k)))
  return {
    CLUSTER_ID: CONTAINER_CLUSTER_ID,
    KAFKA_OPTS: '-Dxrc.kafka.secured=true',
    KAFKA_SSL_KEYSTORE_FILENAME: CONTAINER_SECRET_FILES.keystore,
    KAFKA_SSL_KEYSTORE_CREDENTIALS: CONTAINER_SECRET_FILES.storePassword,
    KAFKA_SSL_KEY_CREDENTIALS: CONTAINER_SECRET_FILES.storePassword,
    ...dockerEnv(kept),
  }
}

/** The secured container's files with secrets: what the image mounts and what format reads. */
export function secureContainerFiles(
  hostPort: number,
  security: Omit<BrokerSecurity, 'keystoreFile' | 'truststoreFile' | 'caFile'>,
): { mountedConfig: string; formatProperties: string; scramArgs: string } {
  const props = secureContainerProps(hostPort, security)
  const lines = (entries: [string, string][]): string =>
    [
      '# written by `xrc stack compose-tls`; edit stack/brokerSettings.ts instead',
      ...entries.map(([k, v]) => `${k}=${v}`),
      '',
    ].join('\n')
  return {
    mountedConfig: lines(Object.entries(props).filter(([k]) => isSecretSetting(k) && !SET_BY_IMAGE.has(k))),
    formatProperties: lines(Object.entries(props)),
    scramArgs: scramFormatArgs(security).join('\n') + '\n',
  }
}

/**
 * The secured container's command: format its storage with the SCRAM
 * users (the image's own format cannot add them, and a SCRAM user exists
 * only once its credentials are in the metadata; the brokers log in to each
 * other as the admin), then the image's start, whose format finds the
 * storage formatted and goes on. A compose file writes each $ as $$.
 */
export const SECURE_CONTAINER_COMMAND: readonly string[] = [
  'bash',
  '-c',
  `mapfile -t scram < ${CONTAINER_SECRETS_DIR}/${CONTAINER_SECRET_FILES.scramArgs} && ` +
    `/opt/kafka/bin/kafka-storage.sh format --ignore-formatted -t "$CLUSTER_ID" ` +
    `-c ${CONTAINER_SECRETS_DIR}/${CONTAINER_SECRET_FILES.formatProperties} "\${scram[@]}" && ` +
    'exec /etc/kafka/docker/run',
]
