/**
 * A private three-node KRaft cluster for the tests that take brokers away:
 * the local stack's jars, free ports, its data in a temp folder, removed
 * whole by remove(). The shared single broker is never touched.
 *
 * Imports nothing from vitest: the soak (plain node) uses it too.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../lib/config.js'
import { createKafkaClient, describePartitions, isUnderReplicated, type KafkaAdmin } from '../../lib/kafka/index.js'
import { silentLogger } from '../../lib/logger.js'
import { waitFor } from '../../lib/retry.js'
import {
  kafkaNodeService,
  localNodes,
  nodeAddresses,
  prepareNodes,
  startNode,
  waitForKafka,
  type KafkaNode,
  type KafkaSetup,
} from '../../stack/kafka.js'
import { stackPaths } from '../../stack/paths.js'
import { isAlive, runningPid, stopService } from '../../stack/processes.js'
import { freePort } from './ports.js'

export interface PrivateCluster {
  /** Client addresses of every node. */
  brokers: string[]
  nodes: readonly KafkaNode[]
  /** The node's JVM: SIGKILL (waits until it is gone), SIGSTOP or SIGCONT. */
  signal(nodeId: number, signal: 'SIGKILL' | 'SIGSTOP' | 'SIGCONT'): Promise<void>
  /** Controlled shutdown (SIGTERM), waited for. */
  stop(nodeId: number): Promise<void>
  /** Starts a node that is down (formatting its storage again when its data folder is gone); does not wait. */
  start(nodeId: number): Promise<void>
  /** Deletes a stopped node's data folder: it comes back empty. */
  wipe(nodeId: number): void
  /** Node id of the leader of a partition (-1 when none), as the running nodes see it. */
  leaderOf(topic: string, partition: number): Promise<number>
  /** Runs `fn` with an admin client of the nodes that are up. */
  withAdmin<T>(fn: (admin: KafkaAdmin) => Promise<T>): Promise<T>
  /** Every partition's replicas, as the running nodes see it. */
  partitions(topics: readonly string[]): ReturnType<typeof describePartitions>
  /** Every node up and registered and every partition of every topic fully in sync; starts or resumes what is not. */
  restore(timeoutMs?: number): Promise<void>
  /** Stops every node and removes the temp folder. */
  remove(): Promise<void>
}

async function clusterSetup(brokers: number, root: string): Promise<KafkaSetup> {
  const ports: { port: number; controllerPort: number }[] = []
  const taken = new Set<number>()
  const next = async (): Promise<number> => {
    let p = await freePort()
    // a port just freed may come back at once
    while (taken.has(p)) p = await freePort()
    taken.add(p)
    return p
  }
  for (let i = 0; i < brokers; i++) ports.push({ port: await next(), controllerPort: await next() })
  return {
    nodes: localNodes(root, ports),
    heapMb: 384,
    libs: stackPaths(loadConfig()).kafkaLibs,
    logsDir: join(root, 'logs'),
    startTimeoutMs: 150_000,
  }
}

/** Runs `fn` with an admin client connected to the nodes not `away`, disconnected after. */
function adminOf(setup: KafkaSetup, away: ReadonlySet<number>) {
  return async <T>(fn: (a: KafkaAdmin) => Promise<T>): Promise<T> => {
    const a = createKafkaClient({
      connection: { brokers: setup.nodes.filter((n) => !away.has(n.nodeId)).map((n) => `${n.host}:${n.port}`) },
      clientId: 'xrc-cluster-kit',
      logger: silentLogger,
      logs: 'none',
      requestTimeoutMs: 5000,
    }).admin()
    await a.connect()
    try {
      return await fn(a)
    } finally {
      await a.disconnect().catch(() => undefined)
    }
  }
}

/** Starts a cluster of `brokers` nodes (3 by default) and waits until every one is a registered broker. */
export async function startPrivateCluster(brokers = 3): Promise<PrivateCluster> {
  const root = mkdtempSync(join(tmpdir(), 'xrc-cluster-'))
  const setup = await clusterSetup(brokers, root)
  const node = (id: number): KafkaNode => {
    const n = setup.nodes.find((x) => x.nodeId === id)
    if (n === undefined) throw new Error(`no node ${id} in the private cluster`)
    return n
  }
  // nodes killed, stopped or paused: an admin request to a paused node would hang, so none goes there
  const away = new Set<number>()
  const admin = adminOf(setup, away)
  await prepareNodes(setup)
  for (const n of setup.nodes) startNode(setup, n)
  await waitForKafka(setup)
  const cluster: PrivateCluster = {
    brokers: nodeAddresses(setup),
    nodes: setup.nodes,
    async signal(id, signal) {
      const pid = runningPid(kafkaNodeService(node(id)))
      if (pid === undefined) throw new Error(`kafka node ${id} of the private cluster is not running`)
      process.kill(pid, signal)
      if (signal === 'SIGCONT') away.delete(id)
      else away.add(id)
      if (signal === 'SIGKILL')
        await waitFor(`kafka node ${id} to die`, () => (isAlive(pid) ? undefined : true), {
          timeoutMs: 10_000,
          intervalMs: 20,
        })
    },
    async stop(id) {
      away.add(id)
      await stopService(kafkaNodeService(node(id)), 60_000)
    },
    async start(id) {
      await prepareNodes(setup)
      startNode(setup, node(id))
      away.delete(id)
    },
    wipe(id) {
      if (runningPid(kafkaNodeService(node(id))) !== undefined) throw new Error(`kafka node ${id} still runs`)
      rmSync(node(id).dataDir, { recursive: true, force: true })
    },
    leaderOf: (topic, partition) =>
      admin(async (a) => (await describePartitions(a, [topic])).find((p) => p.partition === partition)?.leader ?? -1),
    withAdmin: admin,
    partitions: (topics) => admin((a) => describePartitions(a, topics)),
    restore: (timeoutMs = 120_000) => restore(setup, cluster, admin, timeoutMs),
    async remove() {
      for (const n of setup.nodes) {
        const pid = runningPid(kafkaNodeService(n))
        if (pid !== undefined) process.kill(pid, 'SIGCONT') // a paused node would not stop
      }
      await Promise.all(setup.nodes.map((n) => stopService(kafkaNodeService(n), 5000)))
      rmSync(root, { recursive: true, force: true })
    },
  }
  return cluster
}

async function restore(
  setup: KafkaSetup,
  cluster: PrivateCluster,
  admin: <T>(fn: (a: KafkaAdmin) => Promise<T>) => Promise<T>,
  timeoutMs: number,
): Promise<void> {
  for (const n of setup.nodes) {
    const pid = runningPid(kafkaNodeService(n))
    if (pid === undefined) await cluster.start(n.nodeId)
    else await cluster.signal(n.nodeId, 'SIGCONT')
  }
  await waitForKafka(setup, timeoutMs)
  await waitFor(
    'every partition of the private cluster in sync',
    () =>
      admin(async (a) => {
        const partitions = await describePartitions(a, await a.listTopics())
        return partitions.some(isUnderReplicated) ? undefined : true
      }).catch(() => undefined),
    { timeoutMs, intervalMs: 250 },
  )
}
