/**
 * Scenarios that take a server away (each a private instance the run
 * starts for itself), cut a PostgreSQL connection in the middle of a
 * COMMIT, and leave a journal transaction open past its timeout.
 */
import { waitFor } from '../../../lib/retry.js'
import { sessionTopics } from '../../../schemas/topicNames.js'
import type { ServiceChild } from '../../kit/services.js'
import { readJournalAttempts } from '../harness/journalCheck.js'
import { startPgProxy, type CommitCut, type PgProxy } from '../harness/pgProxy.js'
import {
  startPrivateKafka,
  startPrivatePostgres,
  startPrivateRegistry,
  type PrivateServer,
} from '../harness/privateServers.js'
import { isStopped, logHas, type Scenario, type ScenarioContext } from '../harness/scenario.js'

/** Takes a private server away while writes go on (at least `acksWhileDown` acknowledged meanwhile), then brings it back. */
async function outage(
  ctx: ScenarioContext,
  server: PrivateServer,
  what: string,
  acksWhileDown: number,
  meanwhile?: () => Promise<void>,
): Promise<void> {
  await server.crash()
  ctx.fault(what)
  const downAt = Date.now()
  await meanwhile?.()
  // the primary never waits for the mirror: host writes are acknowledged while the server is away
  await ctx.moreAcks(acksWhileDown, 60_000)
  await server.restart()
  ctx.note('downSeconds', Math.round((Date.now() - downAt) / 100) / 10)
}

/** Scenario 6a: the session's broker SIGKILLed and restarted. */
export function kafkaCrash(): Scenario {
  let kafka: PrivateServer | undefined
  return {
    name: 'kafka-broker-sigkill',
    async prepare() {
      kafka = await startPrivateKafka()
      return { servers: { kafkaBrokers: [kafka.address] }, teardown: () => (kafka as PrivateServer).remove() }
    },
    inject: (ctx) =>
      outage(ctx, kafka as PrivateServer, 'Kafka broker SIGKILL, restarted', 20 + Math.floor(ctx.random() * 30)),
  }
}

/** Scenario 6b: the secondary's PostgreSQL stopped with -m immediate and restarted. */
export function postgresCrash(): Scenario {
  let postgres: PrivateServer | undefined
  return {
    name: 'postgres-immediate-stop',
    async prepare() {
      postgres = await startPrivatePostgres()
      return { servers: { databaseUrl: postgres.address }, teardown: () => (postgres as PrivateServer).remove() }
    },
    inject: (ctx) =>
      outage(
        ctx,
        postgres as PrivateServer,
        'PostgreSQL pg_ctl stop -m immediate, restarted',
        20 + Math.floor(ctx.random() * 30),
      ),
  }
}

/** Scenario 6c: the registry stopped and restarted; the primary restarts while it is away (its schema is fetched again on start). */
export function registryRestart(): Scenario {
  let registry: PrivateServer | undefined
  return {
    name: 'registry-stop-restart',
    async prepare(shared) {
      registry = await startPrivateRegistry(shared.databaseUrl)
      return { servers: { registryUrl: registry.address }, teardown: () => (registry as PrivateServer).remove() }
    },
    inject: (ctx) =>
      outage(ctx, registry as PrivateServer, 'registry stopped, restarted', 20, async () => {
        const primary = ctx.services.primaries[0] as ServiceChild
        await primary.kill('SIGKILL')
        await primary.start()
        ctx.fault('primary SIGKILL and restart while the registry is away')
      }),
  }
}

/** Scenario 7: the applier's connection cut in the middle of a COMMIT, before the server got it or after it committed. */
export function commitCut(mode: CommitCut): Scenario {
  let proxy: PgProxy | undefined
  return {
    name: `postgres-commit-reset-${mode}`,
    async prepare(shared) {
      const target = new URL(shared.databaseUrl)
      proxy = await startPgProxy({ host: target.hostname, port: Number(target.port || 5432) })
      const viaProxy = new URL(shared.databaseUrl)
      viaProxy.port = String(proxy.port)
      return {
        // the segment codes' recomputer commits through the same URL: off, so the COMMIT cut is a group's
        settings: { database: { url: viaProxy.toString() }, applier: { codeRecomputeBytesPerSecond: 0 } },
        teardown: () => (proxy as PgProxy).close(),
      }
    },
    async inject(ctx) {
      const p = proxy as PgProxy
      p.arm(mode, 3 + Math.floor(ctx.random() * 20))
      await waitFor('a COMMIT to be cut', () => (p.cuts() > 0 ? true : undefined), {
        timeoutMs: 60_000,
        intervalMs: 20,
      })
      ctx.fault(`connection reset ${mode} the server got a COMMIT`)
      const applier = ctx.services.applier
      await ctx.moreAcks(30)
      ctx.check(!applier.exited(), 'the applier survives the cut connection')
      await waitFor(
        'the applier to resolve the COMMIT from the control table',
        () => (logHas(applier, /outcome of groups? [\d.]+'s COMMIT was unknown/) ? true : undefined),
        { timeoutMs: 30_000, intervalMs: 50 },
      ).catch(() => undefined)
      const pattern =
        mode === 'after'
          ? /the control table shows (it|them) committed: (it is|they are) not applied again/
          : /the control table shows (it did|them) not commit(ted)?: (it was|they were) applied now/
      ctx.check(
        logHas(applier, pattern),
        `the applier learned from the control table whether the group committed (${pattern}; log: ${applier.logFile})`,
      )
      ctx.note('commitsCut', p.cuts())
    },
  }
}

/**
 * Scenario 8: the mover paused inside a journal transaction past
 * mover.transactionTimeoutMs, until the broker aborted it. Its commit then
 * fails and is not taken for a success; the mover claims the transactional
 * id again (a new producer and epoch: a delayed request of the old one
 * cannot land on a later transaction, the Jepsen 2024 hazard) and the group
 * is journaled and applied once. Checked in the journal itself: the
 * expired attempt's records are aborted, under the old epoch; the group
 * committed under a newer one; nothing of the old epoch committed after.
 */
export function transactionTimeout(): Scenario {
  let openedAt = 0
  return {
    name: 'mover-transaction-timeout',
    prepare: async () => ({ settings: { mover: { transactionTimeoutMs: 2000 } } }),
    armed: (random) => ({ mover: { XRC_FAULT_POINT: `mover.before-commit:stop:${5 + Math.floor(random() * 40)}` } }),
    async inject(ctx) {
      const mover = ctx.services.mover
      await waitFor('the mover to pause inside a transaction', () => (isStopped(mover.pid) ? true : undefined), {
        timeoutMs: 90_000,
        intervalMs: 20,
      })
      ctx.fault('mover SIGSTOP inside a transaction past its timeout')
      const journal = sessionTopics(ctx.session.config.session.name).journal
      const admin = ctx.kafka.admin()
      await admin.connect()
      const stable = async (): Promise<number> =>
        Number((await admin.fetchTopicOffsets(journal)).find((o) => o.partition === 0)?.offset ?? 0)
      openedAt = await stable()
      // the last stable offset stays at the open transaction until the broker aborts it (its abort marker moves it on)
      await waitFor(
        'the broker to abort the expired transaction',
        async () => ((await stable()) > openedAt ? true : undefined),
        { timeoutMs: 60_000, intervalMs: 200 },
      )
      await admin.disconnect()
      await mover.kill('SIGCONT')
      await waitFor(
        'the mover to see its commit fail',
        () => (logHas(mover, /outlived its timeout/) ? true : undefined),
        { timeoutMs: 30_000, intervalMs: 50 },
      ).catch(() => undefined)
      ctx.check(
        logHas(mover, /past mover\.transactionTimeoutMs .* committed: no/),
        `the expired commit is reported failed, never as a success (log: ${mover.logFile})`,
      )
      await ctx.moreAcks(30)
      ctx.check(!mover.exited(), 'the mover goes on after its transaction expired')
    },
    async afterRun(ctx, journal) {
      const attempts = await readJournalAttempts(
        ctx.kafka,
        sessionTopics(ctx.session.config.session.name).journal,
        openedAt,
      )
      const committed = new Set(journal.lastPartOffset.values())
      const expired = attempts[0]
      const again =
        expired &&
        attempts.find((a) => a.groupSeq === expired.groupSeq && a.part === a.parts - 1 && committed.has(a.offset))
      ctx.check(
        expired !== undefined && !committed.has(expired.offset),
        'the expired attempt is in the journal, aborted',
      )
      ctx.check(
        again !== undefined && again.producerEpoch > (expired?.producerEpoch ?? Infinity),
        `the group committed again under a newer epoch (${expired?.producerEpoch} -> ${again?.producerEpoch})`,
      )
      const lateOld = attempts.filter(
        (a) =>
          committed.has(a.offset) &&
          a.producerId === expired?.producerId &&
          a.producerEpoch <= (expired?.producerEpoch ?? -1),
      )
      ctx.check(lateOld.length === 0, `nothing of the old epoch committed after the expiry (${lateOld.length} records)`)
      ctx.check(
        journal.lastPartOffset.get(expired?.groupSeq ?? -1) === again?.offset,
        'the group is journaled once, by its second attempt',
      )
      ctx.note('expiredGroup', expired?.groupSeq)
      ctx.note('epochs', `${expired?.producerEpoch} -> ${again?.producerEpoch}`)
    },
  }
}
