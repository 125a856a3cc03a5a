/**
 * The local Kafka: Apache Kafka from Maven Central, KRaft with broker and
 * controller combined in each node, each node its own JVM. One node by
 * default (stack.kafkaPort); `xrc stack up --brokers 3` runs a cluster of
 * three on stack.clusterPort.. with a static quorum of all three. The
 * settings are stack/brokerSettings.ts's.
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Config, KafkaConnection } from '../lib/config.js'
import { XrcError } from '../lib/errors.js'
import { createKafkaClient } from '../lib/kafka/index.js'
import { silentLogger } from '../lib/logger.js'
import { waitFor } from '../lib/retry.js'
import { saslSettings } from '../lib/kafkaSecuritySettings.js'
import { scramFormatArgs, serverProperties, type BrokerNode, type BrokerSecurity } from './brokerSettings.js'
import { REPO_ROOT, kafkaNodeFiles, stackVersions, type KafkaNodeFiles, type StackPaths } from './paths.js'
import { runningPid, startDetached, tailLog, type ServiceProcess } from './processes.js'

const run = promisify(execFile)

/** A node of a local Kafka: where it listens and its files. */
export type KafkaNode = BrokerNode & KafkaNodeFiles

/** A local Kafka of one or more nodes, and how to run their JVMs. */
export interface KafkaSetup {
  nodes: KafkaNode[]
  /** Java heap of each node, MiB. */
  heapMb: number
  /** Folder of the Kafka jars. */
  libs: string
  /** Folder of Kafka's own log files (kafka.logs.dir). */
  logsDir: string
  startTimeoutMs: number
  /** A secured cluster (SASL_SSL, SCRAM, maybe ACLs); plain PLAINTEXT when absent. */
  security?: BrokerSecurity
}

/** Nodes on 127.0.0.1 with ids 1..n, client and controller ports as given, files under `root`. */
export function localNodes(root: string, ports: readonly { port: number; controllerPort: number }[]): KafkaNode[] {
  const version = stackVersions().kafka
  return ports.map(({ port, controllerPort }, i) => ({
    nodeId: i + 1,
    host: '127.0.0.1',
    port,
    controllerHost: '127.0.0.1',
    controllerPort,
    ...kafkaNodeFiles(root, version, port),
  }))
}

/** The local stack's Kafka: its one broker, or its cluster of stack.brokers nodes. */
export function localKafka(config: Config, paths: StackPaths): KafkaSetup {
  const { stack } = config
  const ports =
    stack.brokers === 1
      ? [{ port: stack.kafkaPort, controllerPort: stack.controllerPort }]
      : Array.from({ length: stack.brokers }, (_, i) => ({
          port: stack.clusterPort + i,
          controllerPort: stack.clusterControllerPort + i,
        }))
  return {
    nodes: localNodes(paths.root, ports),
    heapMb: stack.brokers === 1 ? stack.kafkaHeapMb : stack.clusterHeapMb,
    libs: paths.kafkaLibs,
    logsDir: join(paths.root, 'logs'),
    startTimeoutMs: stack.startTimeoutMs,
  }
}

/** Client addresses of a setup's nodes. */
export function nodeAddresses(setup: KafkaSetup): string[] {
  return setup.nodes.map((n) => `${n.host}:${n.port}`)
}

/** How a client reaches a setup's nodes: over TLS as the admin user, when they are secured. */
export function setupConnection(setup: KafkaSetup): KafkaConnection {
  const brokers = nodeAddresses(setup)
  const { security } = setup
  if (security === undefined) return { brokers }
  return {
    brokers,
    tls: { caFile: security.caFile, checkServerName: true },
    sasl: saslSettings('SCRAM-SHA-512', security.admin.name, security.admin.password),
  }
}

export function kafkaNodeService(node: KafkaNode): ServiceProcess {
  return {
    name: `kafka node ${node.nodeId} (${node.host}:${node.port})`,
    pidFile: node.pidFile,
    logFile: node.logFile,
    marker: 'kafka.Kafka',
  }
}

/** The single broker's process (stack.kafkaPort). */
export function kafkaService(paths: StackPaths): ServiceProcess {
  return { name: 'kafka', pidFile: paths.kafkaPid, logFile: paths.kafkaLog, marker: 'kafka.Kafka' }
}

function javaArgs(setup: KafkaSetup, heapMb: number, main: string, args: string[]): string[] {
  return [
    `-Xmx${heapMb}m`,
    `-Xms${Math.min(256, heapMb)}m`,
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    // several nodes share two cores: fewer GC and compiler threads each
    ...(setup.nodes.length > 1 ? ['-XX:ParallelGCThreads=1', '-XX:CICompilerCount=2'] : []),
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${join(REPO_ROOT, 'stack', 'log4j2.properties')}`,
    `-Dkafka.logs.dir=${setup.logsDir}`,
    '-cp',
    `${setup.libs}/*`,
    main,
    ...args,
  ]
}

function storageTool(setup: KafkaSetup, args: string[]): Promise<{ stdout: string }> {
  return run('java', javaArgs(setup, 256, 'kafka.tools.StorageTool', args))
}

/** The cluster id of any formatted node of the setup (every node of a cluster must share one). */
function existingClusterId(setup: KafkaSetup): string | undefined {
  for (const node of setup.nodes) {
    const meta = join(node.dataDir, 'meta.properties')
    if (!existsSync(meta)) continue
    const id = /^cluster\.id=(.+)$/m.exec(readFileSync(meta, 'utf8'))?.[1]?.trim()
    if (id) return id
  }
  return undefined
}

/**
 * Writes each node's server.properties and formats the storage of every
 * node not yet formatted: with the cluster id its formatted siblings have
 * (a node whose data folder was lost comes back empty into its cluster),
 * else a new one from StorageTool random-uuid.
 */
export async function prepareNodes(setup: KafkaSetup): Promise<void> {
  let clusterId = existingClusterId(setup)
  for (const node of setup.nodes) {
    mkdirSync(node.dataDir, { recursive: true })
    writeFileSync(node.configFile, serverProperties(setup.nodes, node, node.dataDir, setup.security), { mode: 0o600 })
    if (existsSync(join(node.dataDir, 'meta.properties'))) continue
    if (clusterId === undefined) {
      const { stdout } = await storageTool(setup, ['random-uuid'])
      clusterId = stdout.trim().split('\n').pop()?.trim()
      if (!clusterId) throw new XrcError('XRC_STACK_START_FAILED', { reason: 'noClusterId' })
    }
    const scram = setup.security === undefined ? [] : scramFormatArgs(setup.security)
    await storageTool(setup, ['format', '-t', clusterId, '-c', node.configFile, ...scram]).catch((err: unknown) => {
      // the command line holds the SCRAM passwords: a secured format says only what the tool printed
      const { stderr } = err as { stderr?: string }
      const cause = scram.length === 0 ? err : new Error(stderr?.trim() || 'StorageTool format failed')
      throw new XrcError('XRC_STACK_START_FAILED', { reason: 'formatFailed', cause })
    })
  }
}

/** Starts one node's JVM (formatted by prepareNodes) unless it runs; does not wait for it. */
export function startNode(setup: KafkaSetup, node: KafkaNode): void {
  const svc = kafkaNodeService(node)
  if (runningPid(svc) !== undefined) return
  startDetached(svc, 'java', javaArgs(setup, setup.heapMb, 'kafka.Kafka', [node.configFile]), process.env)
}

/** One admin round trip: resolves with the broker count, throws when none answers. */
export async function pingKafka(connection: KafkaConnection, timeoutMs = 3000): Promise<number> {
  const kafka = createKafkaClient({
    connection,
    clientId: 'xrc-stack-probe',
    logger: silentLogger,
    logs: 'none',
    connectionTimeoutMs: timeoutMs,
    requestTimeoutMs: timeoutMs,
  })
  const admin = kafka.admin({ retries: 0 })
  try {
    await admin.connect()
    const cluster = await admin.describeCluster()
    return cluster.brokers.length
  } finally {
    await admin.disconnect().catch(() => undefined)
  }
}

/**
 * Starts every node of `setup` that does not run, unless another Kafka
 * answers at its addresses already ('external'); waits until the cluster
 * reports all its brokers.
 */
export async function startKafkaSetup(
  setup: KafkaSetup,
  say: (line: string) => void,
): Promise<'started' | 'running' | 'external'> {
  const down = setup.nodes.filter((n) => runningPid(kafkaNodeService(n)) === undefined)
  if (down.length === 0) {
    await waitForKafka(setup)
    return 'running'
  }
  const answers = await pingKafka(setupConnection(setup), 1500).catch(() => 0)
  if (down.length === setup.nodes.length && answers > 0) return 'external'
  await prepareNodes(setup)
  for (const node of down) {
    say(`starting kafka node ${node.nodeId} on ${node.host}:${node.port} (log: ${node.logFile})`)
    startNode(setup, node)
  }
  await waitForKafka(setup)
  return 'started'
}

/** The local stack's Kafka (see localKafka), started as startKafkaSetup does. */
export function startKafka(
  config: Config,
  paths: StackPaths,
  say: (line: string) => void,
): Promise<'started' | 'running' | 'external'> {
  return startKafkaSetup(localKafka(config, paths), say)
}

/** Waits until every node of the setup is a registered broker (a topic of factor 3 needs all three). */
export async function waitForKafka(setup: KafkaSetup, timeoutMs = setup.startTimeoutMs): Promise<void> {
  const expected = setup.nodes.length
  try {
    await waitFor(
      `the kafka ${expected === 1 ? 'broker' : `cluster's ${expected} brokers`} to answer`,
      async () => ((await pingKafka(setupConnection(setup))) >= expected ? true : undefined),
      {
        timeoutMs,
        intervalMs: 500,
        abortIf: () => {
          const dead = setup.nodes.find((n) => runningPid(kafkaNodeService(n)) === undefined)
          return dead === undefined ? undefined : `kafka node ${dead.nodeId}'s process exited`
        },
      },
    )
  } catch (err) {
    const failed = setup.nodes.find((n) => runningPid(kafkaNodeService(n)) === undefined) ?? setup.nodes[0]
    throw new XrcError('XRC_STACK_START_FAILED', {
      reason: 'notStarted',
      service: 'kafka',
      log: failed?.logFile ?? '',
      tail: failed ? tailLog(failed.logFile) : '',
      cause: err,
    })
  }
}
