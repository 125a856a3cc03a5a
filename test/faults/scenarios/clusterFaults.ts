/**
 * Scenarios on a replicated three-node cluster (topics of factor 3, min ISR
 * 2, acks=all): the leader of the journal and of an updates partition
 * SIGKILLed, one broker SIGSTOPped past its session timeout, a rolling
 * restart of all three, and a broker's data folder lost (it comes back
 * empty and copies its replicas again). The pipeline must carry on without
 * an operator: while a broker is away the secondary keeps applying groups
 * (two replicas are still in sync), and once it is back every partition is
 * whole again.
 *
 * The cluster (test/kit/kafkaCluster.ts) is private and shared by the runs
 * of one process; each run restores it (every node up, every partition in
 * sync) before its session starts.
 */
import { waitFor } from '../../../lib/retry.js'
import { sessionTopics } from '../../../schemas/topicNames.js'
import { BROKER_SESSION_TIMEOUT_MS } from '../../../stack/brokerSettings.js'
import { observeSecondary } from '../../../workload/secondaryObserver.js'
import { startPrivateCluster, type PrivateCluster } from '../../kit/kafkaCluster.js'
import { replicationView } from '../../../cli/status/replicationView.js'
import type { Scenario, ScenarioContext } from '../harness/scenario.js'

let shared: Promise<PrivateCluster> | undefined

/** The process's private cluster, started on first use. */
export function sharedCluster(): Promise<PrivateCluster> {
  shared ??= startPrivateCluster(3)
  return shared
}

/** Stops the private cluster, if one was started (after the last run). */
export async function releaseSharedCluster(): Promise<void> {
  const started = shared
  shared = undefined
  await (await started?.catch(() => undefined))?.remove()
}

/** A scenario's servers: the restored cluster, and the settings of a replicated session. */
async function prepareOnCluster(): Promise<{ servers: { kafkaBrokers: string[] }; settings: Record<string, unknown> }> {
  const cluster = await sharedCluster()
  await cluster.restore()
  return {
    servers: { kafkaBrokers: cluster.brokers },
    settings: { topics: { replicationFactor: 3, minInsyncReplicas: 2 } },
  }
}

/** The session's partitions: every updates partition and the journal's. */
function sessionPartitions(ctx: ScenarioContext): { topic: string; partition: number }[] {
  const topics = sessionTopics(ctx.session.config.session.name)
  return [
    ...ctx.session.config.session.controllers.map((c) => ({ topic: topics.updates, partition: c.id })),
    { topic: topics.journal, partition: 0 },
  ]
}

/** Waits until the secondary applied `more` groups after the call: the pipeline carries on. */
async function moreGroups(ctx: ScenarioContext, more: number, what: string, timeoutMs = 90_000): Promise<void> {
  const { config } = ctx.session
  const seq = async (): Promise<number> =>
    (await observeSecondary(ctx.pool, config.applier.schema, config.session.name))?.groupSeq ?? 0
  const from = await seq()
  const ok = await waitFor(
    `${more} more groups applied ${what}`,
    async () => (await seq()) >= from + more || undefined,
    {
      timeoutMs,
      intervalMs: 100,
    },
  ).catch(() => false)
  ctx.check(ok === true, `the secondary applied ${more} more groups ${what}`)
}

/** The node leading the session's journal, checked to be one (undefined, and a failed check, when none leads). */
async function journalLeader(ctx: ScenarioContext, cluster: PrivateCluster): Promise<number | undefined> {
  const journal = sessionPartitions(ctx).pop() as { topic: string; partition: number }
  const node = await cluster.leaderOf(journal.topic, journal.partition)
  ctx.check(node > 0, 'the journal has a leader')
  return node > 0 ? node : undefined
}

/** Checks that no partition of the session is led by `nodeId` (it was fenced or is down). */
async function checkLeadershipMoved(ctx: ScenarioContext, cluster: PrivateCluster, nodeId: number): Promise<void> {
  const topics = sessionTopics(ctx.session.config.session.name)
  const moved = await waitFor(
    `the leaderships of node ${nodeId} to move`,
    async () => {
      const parts = await cluster.partitions([topics.updates, topics.journal])
      return parts.length > 0 && parts.every((p) => p.leader !== nodeId && p.leader >= 0) ? true : undefined
    },
    { timeoutMs: 4 * BROKER_SESSION_TIMEOUT_MS, intervalMs: 250 },
  ).catch(() => false)
  ctx.check(moved === true, `every partition of the session has a leader other than node ${nodeId}`)
}

/**
 * Checks what `xrc status` reports of the session's replication (cli/status/replicationView.ts): with a node away
 * every partition of the session's topics (factor 3: a replica on each node) is under-replicated; with all back, none.
 */
async function checkStatusReplication(ctx: ScenarioContext, cluster: PrivateCluster, nodeAway: boolean): Promise<void> {
  const session = ctx.session.config.session.name
  let seen = -1
  const ok = await waitFor(
    `status to show ${nodeAway ? 'every' : 'no'} partition under-replicated`,
    () =>
      cluster.withAdmin(async (admin) => {
        const view = await replicationView(admin, session)
        const partitions = view.topics.reduce((n, t) => n + t.partitions, 0)
        seen = view.underReplicated
        const factor3 = view.topics.length > 0 && view.topics.every((t) => t.replicationFactor === 3)
        return factor3 && view.underReplicated === (nodeAway ? partitions : 0) ? true : undefined
      }),
    { timeoutMs: 4 * BROKER_SESSION_TIMEOUT_MS, intervalMs: 250 },
  ).catch(() => false)
  ctx.check(ok === true, `status shows ${nodeAway ? 'every' : 'no'} partition under-replicated (last seen ${seen})`)
}

/** Brings a node back and waits until every partition has all its replicas in sync again; notes how long. */
async function rejoin(ctx: ScenarioContext, cluster: PrivateCluster, nodeId: number, key: string): Promise<void> {
  const began = Date.now()
  await cluster.start(nodeId)
  const whole = await cluster.restore(120_000).then(
    () => true,
    () => false,
  )
  ctx.check(whole, `node ${nodeId} rejoined and every partition is in sync again within 120 s`)
  ctx.note(key, Math.round((Date.now() - began) / 100) / 10)
}

/**
 * Scenario 9a: the leader of the journal SIGKILLed while writes go on; on a fresh session's topics it leads one of
 * the three updates partitions too (the controller spreads the preferred leaders), which is checked. Groups must
 * still be applied while it is down; then it is restarted and catches up.
 */
export function clusterLeaderKill(): Scenario {
  return {
    name: 'cluster-leader-sigkill',
    prepare: prepareOnCluster,
    async inject(ctx) {
      const cluster = await sharedCluster()
      const topics = sessionTopics(ctx.session.config.session.name)
      const parts = await cluster.partitions([topics.updates, topics.journal])
      const leader = parts.find((p) => p.topic === topics.journal)?.leader ?? -1
      const updates = parts.filter((p) => p.topic === topics.updates && p.leader === leader).map((p) => p.partition)
      ctx.check(leader > 0, 'the journal has a leader')
      ctx.check(updates.length > 0, `the journal's leader (node ${leader}) leads an updates partition too`)
      if (leader <= 0) return
      await cluster.signal(leader, 'SIGKILL')
      ctx.fault(`SIGKILL of node ${leader}, leader of the journal and of updates partitions ${updates.join(',')}`)
      await checkLeadershipMoved(ctx, cluster, leader)
      await checkStatusReplication(ctx, cluster, true)
      await moreGroups(ctx, 5, `with node ${leader} down`)
      await rejoin(ctx, cluster, leader, 'rejoinSeconds')
      await checkStatusReplication(ctx, cluster, false)
    },
  }
}

/** Scenario 9b: the journal's leader SIGSTOPped for longer than the broker session timeout, then resumed. */
export function clusterBrokerPause(): Scenario {
  return {
    name: 'cluster-broker-sigstop',
    prepare: prepareOnCluster,
    async inject(ctx) {
      const cluster = await sharedCluster()
      const node = await journalLeader(ctx, cluster)
      if (node === undefined) return
      const pauseMs = BROKER_SESSION_TIMEOUT_MS + 3000 + Math.floor(ctx.random() * 4000)
      const pausedAt = Date.now()
      await cluster.signal(node, 'SIGSTOP')
      ctx.fault(`SIGSTOP of node ${node} (leader of the journal) for ${pauseMs} ms`)
      try {
        // fenced once the session timeout passed: its partitions are led elsewhere while it sleeps
        await checkLeadershipMoved(ctx, cluster, node)
        await ctx.moreAcks(20)
        const left = pauseMs - (Date.now() - pausedAt)
        if (left > 0) await new Promise((resolve) => setTimeout(resolve, left)) // the pause's length is the fault
      } finally {
        await cluster.signal(node, 'SIGCONT')
      }
      ctx.note('pausedSeconds', Math.round((Date.now() - pausedAt) / 100) / 10)
      await rejoin(ctx, cluster, node, 'rejoinSeconds')
      await moreGroups(ctx, 5, 'after the paused broker came back')
    },
  }
}

/** Scenario 9c: a rolling restart: each node in turn shut down (controlled) and started, in sync before the next. */
export function clusterRollingRestart(): Scenario {
  return {
    name: 'cluster-rolling-restart',
    prepare: prepareOnCluster,
    async inject(ctx) {
      const cluster = await sharedCluster()
      for (const node of cluster.nodes) {
        await cluster.stop(node.nodeId)
        ctx.fault(`controlled shutdown of node ${node.nodeId}, restarted`)
        await moreGroups(ctx, 3, `with node ${node.nodeId} shut down`)
        await rejoin(ctx, cluster, node.nodeId, `node${node.nodeId}RejoinSeconds`)
      }
    },
  }
}

/**
 * Scenario 9d: a broker's data folder lost: the journal's leader SIGKILLed, its folder deleted, started empty with
 * the cluster's id (the operator's new disk); it copies its replicas again until every partition is in sync.
 */
export function clusterDataLoss(): Scenario {
  return {
    name: 'cluster-broker-data-loss',
    prepare: prepareOnCluster,
    async inject(ctx) {
      const cluster = await sharedCluster()
      const node = await journalLeader(ctx, cluster)
      if (node === undefined) return
      await cluster.signal(node, 'SIGKILL')
      cluster.wipe(node)
      ctx.fault(`node ${node} (leader of the journal) SIGKILLed, its data folder deleted`)
      await moreGroups(ctx, 5, `with node ${node} gone`)
      // in sync again means it copied every replica it holds (the ISR takes a follower only at the leader's end)
      await rejoin(ctx, cluster, node, 'emptyNodeInSyncSeconds')
      await moreGroups(ctx, 3, `after node ${node} was rebuilt`)
    },
  }
}
