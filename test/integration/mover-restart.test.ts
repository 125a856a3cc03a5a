/**
 * The mover across crashes and takeovers, against the real broker: a mover
 * stopped in the middle of a transaction (aborted, as a crash leaves it) and
 * a new instance; a commit that landed but was reported failed (the
 * indefinite case); a second mover fencing the first. Afterwards the journal
 * holds every write exactly once, in contiguous groups, as the model says.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { KafkaAdmin, KafkaClient } from '../../lib/kafka/index.js'
import { silentLogger } from '../../lib/logger.js'
import { waitFor } from '../../lib/retry.js'
import type { StageEnd } from '../../lib/stage.js'
import { createMover, type JournalWriterHooks, type Mover } from '../../mover/index.js'
import type { RecordSet } from '../../schemas/recordSet.js'
import { testKafka } from '../kit/servers.js'
import {
  CONTROLLERS,
  expectJournalMatches,
  moverSession,
  readGroups,
  type MoverSession,
  type ScriptedControllers,
} from './moverKit.js'

let kafka: KafkaClient
let admin: KafkaAdmin
const cleanups: (() => Promise<void>)[] = []

beforeAll(async () => {
  kafka = testKafka()
  admin = kafka.admin()
  await admin.connect()
})

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

afterAll(async () => {
  await admin.disconnect()
})

async function session(): Promise<MoverSession> {
  const s = await moverSession(kafka, admin)
  cleanups.push(() => s.cleanup())
  return s
}

function mover(s: MoverSession, hooks?: JournalWriterHooks): Mover {
  const m = createMover({ config: s.config, logger: silentLogger, kafka, ...(hooks ? { hooks } : {}) })
  cleanups.push(() => m.stop())
  return m
}

/** A round of writes on every controller (multi-block, overlapping blocks) and one heartbeat each, so T moves. */
function round(c: ScriptedControllers, i: number): RecordSet[] {
  return [
    ...CONTROLLERS.map((ctl) =>
      c.updates(ctl, [
        [i % 2, (i * 7) % 60, 1 + (i % 3)],
        [0, i % 5, 1],
      ]),
    ),
    ...c.heartbeats(),
  ]
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

const groupAt = (m: Mover, seq: number) => () =>
  m.status().groupSeq >= seq ? true : m.status().halt ? Promise.reject(new Error(m.status().halt?.message)) : undefined
const timeAt = (m: Mover, t: number) => () =>
  (m.status().groupTime ?? 0) >= t
    ? true
    : m.status().halt
      ? Promise.reject(new Error(m.status().halt?.message))
      : undefined
const wait = { timeoutMs: 30_000, intervalMs: 20 }

async function finish(s: MoverSession): Promise<number> {
  const hbs = s.controllers.heartbeats()
  await s.send(hbs)
  return Math.min(...hbs.map((h) => h.maxTime))
}

describe('mover restart and takeover', () => {
  it('a mover stopped mid-transaction without commit, then a new instance: no group duplicated or skipped, every write once', async () => {
    const s = await session()
    const c = s.controllers
    const inTransaction = deferred()
    const release = deferred()
    let held = false
    const a = mover(s, {
      beforeCommit: async (g) => {
        if (g.groupSeq !== 3 || held) return
        held = true
        inTransaction.resolve()
        await release.promise
      },
    })
    await a.start()
    for (let i = 0; !held; i++) {
      await s.send(round(c, i))
      await waitFor(`group ${i + 1} formed`, () => (held || a.status().groupSeq > i ? true : undefined), wait)
    }
    await inTransaction.promise
    const stopping = a.stop({ abort: true }) // group 3's parts and offsets are sent, its commit is not
    release.resolve()
    await stopping
    expect(a.status()).toMatchObject({ state: 'stopped', groupSeq: 2 })

    for (let i = 10; i < 14; i++) await s.send(round(c, i))
    const b = mover(s)
    await b.start()
    expect(b.status()).toMatchObject({ startedFrom: 'journal', groupSeq: 2 })
    for (let i = 20; i < 30; i++) await s.send(round(c, i))
    const finalTime = await finish(s)
    await waitFor('the last group', timeAt(b, finalTime), wait)
    await b.stop()
    expectJournalMatches(await readGroups(kafka, admin, s), c.writes, finalTime)
  })

  it('a commit that landed but was reported failed (indefinite) is found in the journal tail, not journaled again', async () => {
    const s = await session()
    const c = s.controllers
    let lied = false
    const m = mover(s, {
      afterCommit: (g) => {
        if (g.groupSeq === 2 && !lied) {
          lied = true
          throw new Error('connection lost while committing (injected)')
        }
      },
    })
    await m.start()
    for (let i = 0; i < 6; i++) {
      await s.send(round(c, i))
      await waitFor(`group ${i + 1}`, groupAt(m, i + 1), wait)
    }
    const finalTime = await finish(s)
    await waitFor('the last group', timeAt(m, finalTime), wait)
    await m.stop()
    expect(lied).toBe(true)
    const failures = await m.metrics.getSingleMetric('xrc_mover_journal_failures_total')?.get()
    expect(failures?.values[0]?.value).toBe(1)
    expectJournalMatches(await readGroups(kafka, admin, s), c.writes, finalTime)
  })

  it('a second mover fences the first: the first halts with XRC_FENCED and journals nothing more', async () => {
    const s = await session()
    const c = s.controllers
    const a = mover(s)
    await a.start()
    for (let i = 0; i < 3; i++) {
      await s.send(round(c, i))
      await waitFor(`group ${i + 1}`, groupAt(a, i + 1), wait)
    }
    const b = mover(s)
    await b.start() // claims the transactional id
    const claimedAt = b.status().groupSeq
    // both read what comes next; only b may journal it
    let i = 3
    let finalA: StageEnd | undefined
    void a.done.then((end) => (finalA = end))
    while (finalA === undefined) {
      await s.send(round(c, i++))
      await waitFor(
        'a group by b, or a fenced',
        () => (finalA !== undefined || b.status().groupSeq > claimedAt + i - 3 ? true : undefined),
        wait,
      )
    }
    expect(finalA).toMatchObject({ outcome: 'halted', code: 'XRC_FENCED' })
    expect(a.status().halt?.code).toBe('XRC_FENCED')
    expect(a.health().status).toBe('halted')
    const journaledByA = a.status().groupsJournaled
    for (let k = 0; k < 5; k++) await s.send(round(c, i++))
    const finalTime = await finish(s)
    await waitFor('the last group', timeAt(b, finalTime), wait)
    await b.stop()
    expect(a.status().groupsJournaled).toBe(journaledByA)
    expect(a.status().groupSeq).toBeLessThanOrEqual(claimedAt)
    expectJournalMatches(await readGroups(kafka, admin, s), c.writes, finalTime)
  })
})
