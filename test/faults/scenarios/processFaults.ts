/**
 * Scenarios that crash or pause xrc's own processes: the applier and the
 * mover killed at exact points of a transaction (fault points), a zombie
 * mover, the producer killed with record sets in flight, one controller's
 * producer paused.
 */
import { errorMessage } from '../../../lib/errors.js'
import { waitFor } from '../../../lib/retry.js'
import { scanTopic } from '../../../lib/kafka/index.js'
import { silentLogger } from '../../../lib/logger.js'
import { HEADERS, sessionTopics } from '../../../schemas/topicNames.js'
import type { ServiceChild } from '../../kit/services.js'
import { uniqueName } from '../../kit/names.js'
import { isStopped, logHas, metricOf, type Scenario, type ScenarioContext } from '../harness/scenario.js'

/** The n-th occurrence of a fault point, somewhere in the first seconds of the run. */
const occurrence = (random: () => number, from: number, spread: number): number => from + Math.floor(random() * spread)

/** Waits until a child killed itself at its fault point, checks it said so, and starts it again unarmed. */
async function diedAtFaultPoint(ctx: ScenarioContext, svc: ServiceChild, point: string): Promise<void> {
  await waitFor(`${svc.name} to reach ${point}`, () => (svc.exited() ? true : undefined), {
    timeoutMs: 90_000,
    intervalMs: 20,
  })
  ctx.fault(`${svc.name} SIGKILL at ${point}`)
  ctx.check(
    logHas(svc, new RegExp(`"fault point reached","point":"${point.replace('.', '\\.')}"`)),
    `${svc.name} died at ${point} (log: ${svc.logFile})`,
  )
  await svc.start()
}

/** Scenario 1: the applier SIGKILLed in the middle of a group's transaction, or right after its commit. */
export function applierKilled(point: 'applier.before-commit' | 'applier.after-commit'): Scenario {
  return {
    name: point === 'applier.before-commit' ? 'applier-kill-mid-transaction' : 'applier-kill-after-commit',
    armed: (random) => ({ applier: { XRC_FAULT_POINT: `${point}:kill:${occurrence(random, 5, 40)}` } }),
    async inject(ctx) {
      await diedAtFaultPoint(ctx, ctx.services.applier, point)
    },
  }
}

/** Scenario 2: the mover SIGKILLed between sending a group and committing it, or while the commit is on its way. */
export function moverKilled(point: 'mover.before-commit' | 'mover.during-commit'): Scenario {
  return {
    name: point === 'mover.before-commit' ? 'mover-kill-before-commit' : 'mover-kill-during-commit',
    armed: (random) => ({ mover: { XRC_FAULT_POINT: `${point}:kill:${occurrence(random, 5, 40)}` } }),
    async inject(ctx) {
      await diedAtFaultPoint(ctx, ctx.services.mover, point)
    },
  }
}

/** Scenario 3: a zombie mover, paused inside a transaction while a second mover takes over, is fenced when it wakes and commits nothing more. */
export const zombieMover: Scenario = {
  name: 'zombie-mover',
  armed: (random) => ({ mover: { XRC_FAULT_POINT: `mover.before-commit:stop:${occurrence(random, 5, 40)}` } }),
  async inject(ctx) {
    const zombie = ctx.services.mover
    await waitFor('the first mover to pause in a transaction', () => (isStopped(zombie.pid) ? true : undefined), {
      timeoutMs: 90_000,
      intervalMs: 20,
    })
    ctx.fault('mover SIGSTOP inside a transaction; a second mover started')
    const second = ctx.child('mover', 'mover-2')
    await second.start()
    ctx.services.mover = second
    await waitFor(
      'the second mover to journal groups',
      async () => ((await metricOf(second, 'xrc_mover_groups_journaled_total')) ?? 0) >= 3 || undefined,
      { timeoutMs: 60_000, intervalMs: 100 },
    )
    zombie.kill('SIGCONT').catch(() => undefined)
    const code = await zombie.waitExit()
    ctx.check(code === 1, `the zombie mover exits 1 once fenced (got ${code})`)
    ctx.check(logHas(zombie, /XRC_FENCED/), `the zombie mover says it was fenced (log: ${zombie.logFile})`)
    ctx.note('zombieExit', code)
  },
}

/** Scenario 4: the producer SIGKILLed with record sets sent but not yet trimmed from its sidefile, then again at a random moment. */
export const producerKilled: Scenario = {
  name: 'producer-kill-in-flight',
  armed: (random) => ({ primary: { XRC_FAULT_POINT: `producer.after-send:kill:${occurrence(random, 5, 40)}` } }),
  async inject(ctx) {
    const primary = ctx.services.primaries[0] as ServiceChild
    await diedAtFaultPoint(ctx, primary, 'producer.after-send')
    await ctx.moreAcks(20 + Math.floor(ctx.random() * 40))
    await primary.kill('SIGKILL')
    ctx.fault('primary SIGKILL at a random moment')
    await primary.start()
    await ctx.moreAcks(20)
    // re-sent record sets are recognised by (controller, seq): dropped, counted, never journaled twice (the journal check)
    // a restarted producer cuts its sidefile into record sets anew: a re-send may overlap a sent one rather than repeat it
    // the mover counts them once it has read the re-sent record sets, which may be after the acks above: await that
    const duplicates = await waitFor(
      'the mover to drop the re-sent writes as duplicates',
      async () => ((await metricOf(ctx.services.mover, 'xrc_mover_duplicate_updates_total')) ?? 0) || undefined,
      { timeoutMs: 30_000, intervalMs: 100 },
    ).catch(() => metricOf(ctx.services.mover, 'xrc_mover_duplicate_updates_total'))
    ctx.check(
      (duplicates ?? 0) > 0,
      `the writes in flight at the first kill were sent again and dropped as duplicates (${duplicates})`,
    )
    ctx.note('duplicateUpdatesDropped', duplicates)
  },
}

/** Scenario 5: one controller's producer (its own process) paused: T stops at its last report, then catches up after SIGCONT. */
export const controllerPaused: Scenario = {
  name: 'producer-sigstop-one-controller',
  primaryPerController: true,
  async inject(ctx) {
    const id = Math.floor(ctx.random() * ctx.services.primaries.length)
    const victim = ctx.services.primaries[id] as ServiceChild
    await victim.kill('SIGSTOP')
    ctx.fault(`primary of controller ${id} SIGSTOP`)
    const last = await lastReport(ctx, id)
    const { schema } = ctx.session.config.applier
    let highest = 0
    const sample = async (): Promise<void> => {
      const r = await ctx.pool.query<{ group_time: bigint | null }>(`SELECT group_time FROM "${schema}".control`)
      highest = Math.max(highest, Number(r.rows[0]?.group_time ?? 0))
    }
    // the other controllers' writers go on meanwhile (a writer on the paused one waits out its request)
    const writes = ctx.moreAcks(20, 60_000)
    const sampling = (async () => {
      for (let done = false; !done;) {
        await sample()
        done = await Promise.race([
          writes.then(() => true),
          new Promise<boolean>((r) => setTimeout(() => r(false), 50)),
        ])
      }
    })()
    await writes
    await sampling
    ctx.check(
      highest <= last,
      `T stayed at or below controller ${id}'s last report ${last} while it was paused (reached ${highest})`,
    )
    ctx.note('pausedController', id)
    ctx.note('consistencyTimeHeldAt', `${last - highest} µs below its last report`)
    await victim.kill('SIGCONT')
    await waitFor(
      'T to pass the paused controller after SIGCONT',
      async () => {
        await sample()
        return highest > last || undefined
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    ).catch(async (err: unknown) => {
      throw new Error(`${errorMessage(err)} (T ${highest}, last report ${last}); ${await whereHeld(ctx, victim, id)}`)
    })
  },
}

/**
 * What each stage says when T does not move past a resumed controller: did its primary send again (the
 * partition's end, its heartbeats and last acknowledged seq), and what does the mover report? For the failure's
 * message, so that a run that fails once says which stage held.
 */
async function whereHeld(ctx: ScenarioContext, victim: ServiceChild, controller: number): Promise<string> {
  const health = async (svc: ServiceChild): Promise<string> => {
    const url = svc.announced.metrics
    if (typeof url !== 'string') return 'no metrics address'
    return fetch(url.replace(/\/metrics$/, '/health'), { signal: AbortSignal.timeout(3000) }).then(
      (r) => r.text(),
      (e: unknown) => `unanswered: ${errorMessage(e)}`,
    )
  }
  const offsets = await admin(ctx).catch((e: unknown) => errorMessage(e))
  const end = typeof offsets === 'string' ? 0 : Number(offsets.find((o) => o.partition === controller)?.offset ?? 0)
  const lastTime = end > 0 ? await lastMaxTime(ctx, controller, end).catch(() => 'unread') : 'none'
  return [
    `updates partition ends ${JSON.stringify(offsets)}`,
    `controller ${controller}'s last record set maxTime ${lastTime}`,
    `its primary: heartbeats ${await metricOf(victim, 'xrc_producer_heartbeats_total')}, ` +
      `last sent seq ${await metricOf(victim, 'xrc_producer_last_sent_seq')}, health ${await health(victim)}`,
    `mover health ${await health(ctx.services.mover)}`,
  ].join('; ')
}

/** The max time of the last record set a controller sent (its last report), once its partition is still. */
async function lastReport(ctx: ScenarioContext, controller: number): Promise<number> {
  const end = async (): Promise<number> =>
    Number((await admin(ctx)).find((o) => o.partition === controller)?.offset ?? 0)
  let previous = -1
  // a send that was on the wire when the process stopped may still land: wait until the end holds for a few reads
  let still = 0
  await waitFor(
    'the paused controller partition to be still',
    async () => {
      const e = await end()
      still = e === previous ? still + 1 : 0
      previous = e
      return still >= 5 || undefined
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  )
  return lastMaxTime(ctx, controller, previous)
}

/** The maxTime header of the record before `end` in a controller's partition. */
async function lastMaxTime(ctx: ScenarioContext, controller: number, end: number): Promise<number> {
  let time = 0
  await scanTopic({
    kafka: ctx.kafka,
    topic: sessionTopics(ctx.session.config.session.name).updates,
    partition: controller,
    from: end - 1,
    groupPrefix: uniqueName('last-report'),
    logger: silentLogger,
    onMessage: (m) => void (time = Number(m.headers?.[HEADERS.maxTime]?.toString() ?? 0)),
  })
  return time
}

async function admin(ctx: ScenarioContext): Promise<{ partition: number; offset: string }[]> {
  const a = ctx.kafka.admin()
  await a.connect()
  try {
    return await a.fetchTopicOffsets(sessionTopics(ctx.session.config.session.name).updates)
  } finally {
    await a.disconnect()
  }
}
