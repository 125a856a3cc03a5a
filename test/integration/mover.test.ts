/**
 * The mover against the real broker and registry: hand-made record sets of
 * three controllers in, the journal read back with read_committed and
 * checked against the model (order, completeness, contiguous group seqs,
 * last writer wins) once its markers are resolved against the updates topic,
 * one small marker per group whatever its size, a frozen controller at a seq
 * gap, garbage dead-lettered and set aside, and backpressure.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { KafkaAdmin, KafkaClient } from '../../lib/kafka/index.js'
import { loadConfig } from '../../lib/config.js'
import { isXrcError } from '../../lib/errors.js'
import { silentLogger } from '../../lib/logger.js'
import { waitFor } from '../../lib/retry.js'
import { createMover, type Mover } from '../../mover/index.js'
import type { JournalRecord } from '../../schemas/journal.js'
import type { RecordSet } from '../../schemas/recordSet.js'
import { moverGroupId } from '../../schemas/topicNames.js'
import { uniqueName } from '../kit/names.js'
import { stackInfo, testKafka } from '../kit/servers.js'
import {
  CONTROLLERS,
  expectJournalMatches,
  moverSession,
  readGroups,
  readJournal,
  type MoverSession,
  type ScriptedControllers,
} from './moverKit.js'
import { kafkajsOf } from '../../lib/kafka/client/kafkaClient.js'

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

async function session(overrides: Parameters<typeof moverSession>[2] = {}): Promise<MoverSession> {
  const s = await moverSession(kafka, admin, overrides)
  cleanups.push(() => s.cleanup())
  return s
}

function mover(s: MoverSession, hooks?: Parameters<typeof createMover>[0]['hooks']): Mover {
  const m = createMover({ config: s.config, logger: silentLogger, kafka, ...(hooks ? { hooks } : {}) })
  cleanups.push(() => m.stop())
  return m
}

/** Random writes of random controllers (1-3 writes of 1-3 blocks per record set), heartbeats among them. */
function traffic(c: ScriptedControllers, count: number): RecordSet[] {
  const out: RecordSet[] = []
  for (let i = 0; i < count; i++) {
    const controller = CONTROLLERS[Math.floor(Math.random() * CONTROLLERS.length)] as number
    if (Math.random() < 0.15) {
      out.push(c.heartbeat(controller))
      continue
    }
    const n = 1 + Math.floor(Math.random() * 3)
    out.push(
      c.updates(
        controller,
        Array.from(
          { length: n },
          () =>
            [Math.floor(Math.random() * 2), Math.floor(Math.random() * 60), 1 + Math.floor(Math.random() * 3)] as [
              number,
              number,
              number,
            ],
        ),
      ),
    )
  }
  return out
}

/** Final heartbeats of every controller; the journal is complete once a group reaches the time they return. */
async function finish(s: MoverSession): Promise<number> {
  const hbs = s.controllers.heartbeats()
  await s.send(hbs)
  return Math.min(...hbs.map((h) => h.maxTime))
}

const reached = (m: Mover, t: number) => () =>
  (m.status().groupTime ?? 0) >= t
    ? true
    : m.status().halt
      ? Promise.reject(new Error(m.status().halt?.message))
      : undefined

describe('mover', () => {
  it('journals complete, ordered consistency groups of three controllers, each write once, last writer wins', async () => {
    const s = await session()
    const c = s.controllers
    await s.send(traffic(c, 40))
    const m = mover(s)
    await m.start()
    expect(m.status().startedFrom).toBe('earliest')
    await s.send(c.heartbeats())
    await waitFor('a first group', () => (m.status().groupSeq > 0 ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 20,
    })
    // a re-send (producer restart): dropped whole; then one batched anew with new writes: only the tail kept
    const before = traffic(c, 20)
    const first = c.updates(1, [
      [0, 1, 1],
      [1, 2, 2],
    ])
    const next = c.updates(1, [[0, 1, 1]])
    await s.send([
      ...before,
      first,
      first,
      { ...next, firstSeq: first.firstSeq, minTime: first.minTime, updates: [...first.updates, ...next.updates] },
    ])
    await s.send(traffic(c, 60))
    const finalTime = await finish(s)
    await waitFor('the last group', reached(m, finalTime), { timeoutMs: 30_000, intervalMs: 20 })
    await m.stop()

    const groups = await readGroups(kafka, admin, s)
    expectJournalMatches(groups, c.writes, finalTime)
    expect(groups.length).toBeGreaterThan(1)
    expect(m.status()).toMatchObject({ state: 'stopped', duplicateRecordSets: 1, groupsJournaled: groups.length })
    // one marker per group, naming every controller's range; the re-send is set aside in controller 1's range
    const entries = await readJournal(kafka, admin, s.topics.journal, s.journalCodec)
    expect(entries).toHaveLength(groups.length)
    for (const { record } of entries) {
      expect(record).toMatchObject({ part: 0, parts: 1, updates: [] })
      expect(record.ranges?.map((r) => r.controller)).toEqual(CONTROLLERS)
    }
    // (unless a cut fell between the two sends of it: then no range holds it)
    const asides = entries.flatMap((e) => e.record.ranges ?? []).filter((r) => r.setAside.length > 0)
    expect(asides.length).toBeLessThanOrEqual(1)
    for (const r of asides) expect(r).toMatchObject({ controller: 1, setAside: [expect.any(Number)] })
    // markers carry the marks: no input offsets are committed any more
    const raw = kafkajsOf(kafka).admin()
    await raw.connect()
    const [committed] = await raw
      .fetchOffsets({ groupId: moverGroupId(s.session), topics: [s.topics.updates] })
      .finally(() => raw.disconnect())
    expect((committed?.partitions ?? []).filter((p) => Number(p.offset) >= 0)).toEqual([])
  })

  it('keeps mover.groupMinIntervalMs between cuts while writes keep arriving (each write wakes the loop)', async () => {
    const floorMs = 300
    const s = await session({ mover: { groupMinIntervalMs: floorMs, groupIntervalMs: 2000 } })
    const c = s.controllers
    const cuts: number[] = []
    const m = mover(s, { beforeCommit: (g) => void (g.updates.length > 0 && cuts.push(performance.now())) })
    await m.start()
    // a write with every controller's heartbeat every 20 ms for 1.5 s: each makes a write cuttable
    const began = performance.now()
    while (performance.now() - began < 1500) {
      await s.send([...traffic(c, 1), ...c.heartbeats()])
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const finalTime = await finish(s)
    await waitFor('the last group', reached(m, finalTime), { timeoutMs: 30_000, intervalMs: 20 })
    const lastedMs = performance.now() - began
    await m.stop()
    expectJournalMatches(await readGroups(kafka, admin, s), c.writes, finalTime)
    // a cut every commit (about one per write) would make dozens; the floor allows one per floorMs and the first
    expect(cuts.length).toBeGreaterThan(1)
    expect(cuts.length).toBeLessThanOrEqual(Math.ceil(lastedMs / floorMs) + 1)
  })

  it('journals a group larger than journalRecordMaxBytes as one small marker, and an aborted attempt leaves none visible', async () => {
    const s = await session({ blockSize: 4096, mover: { journalRecordMaxBytes: 64 * 1024 } })
    const c = s.controllers
    // 512 KiB on controller 0 while the others are silent: one group once they speak
    const big = Array.from({ length: 8 }, (_, i) => c.updates(0, [[i % 2, (i >> 1) * 16, 16]]))
    await s.send(big)
    let failOnce = true
    const m = mover(s, {
      beforeCommit: (g) => {
        if (failOnce && g.updates.length > 0) {
          failOnce = false
          throw new Error('injected failure before commit')
        }
      },
    })
    await m.start()
    const finalTime = await finish(s)
    await waitFor('the big group', reached(m, finalTime), { timeoutMs: 30_000, intervalMs: 20 })
    await m.stop()

    const entries = await readJournal(kafka, admin, s.topics.journal, s.journalCodec)
    const groups = await readGroups(kafka, admin, s)
    expectJournalMatches(groups, c.writes, finalTime)
    const withData = groups.find((g) => g.updates.length > 0)
    // 512 KiB of updates, one marker of a few hundred bytes: the data stays on the updates topic
    const records = entries.filter((e) => e.record.groupSeq === withData?.groupSeq)
    expect(records).toHaveLength(1)
    expect(s.journalCodec.encode(records[0]?.record as JournalRecord).length).toBeLessThan(1024)
    expect(withData?.updates).toHaveLength(128)
    const failures = await m.metrics.getSingleMetric('xrc_mover_journal_failures_total')?.get()
    expect(failures?.values[0]?.value).toBe(1)
  })

  it('freezes a controller at a missing seq (XRC_SEQUENCE_GAP): T waits for it, nothing after the gap is journaled, the mover runs on', async () => {
    const s = await session()
    const c = s.controllers
    await s.send([
      c.updates(1, [
        [0, 0, 1],
        [0, 1, 1],
      ]),
      ...c.heartbeats(),
    ])
    const m = mover(s)
    await m.start()
    await waitFor('a first group', () => (m.status().groupSeq > 0 ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 20,
    })
    c.skip(1, 2)
    await s.send([c.updates(1, [[0, 5, 1]]), ...c.heartbeats()])
    const frozen = await waitFor('controller 1 to freeze', () => m.status().frozen[0], {
      timeoutMs: 30_000,
      intervalMs: 20,
    })
    expect(frozen).toMatchObject({ controller: 1, code: 'XRC_SEQUENCE_GAP', expectedSeq: 3, takeable: true })
    expect(frozen.message).toMatch(/controller 1: expected seq 3, got 5/)
    expect(m.status().halt).toBeUndefined()
    expect(m.health()).toMatchObject({
      status: 'halted',
      reason: expect.stringMatching(/xrc session resume --controller 1/),
    })
    const groups = await readGroups(kafka, admin, s)
    expect(groups.flatMap((g) => g.updates).filter((u) => u.controller === 1 && u.seq >= 5)).toEqual([])
  })

  it('dead-letters a record that is not a record set (XRC_DECODE_FAILED), naming partition and offset, and goes on', async () => {
    const s = await session()
    const c = s.controllers
    // the garbage sits between two writes of controller 2 (taken by one group, or straddling two)
    await s.send([...c.heartbeats(), c.updates(2, [[0, 1, 1]])])
    await s.sendRaw(2, Buffer.from('not avro at all'))
    await s.send([c.updates(2, [[1, 2, 1]])])
    const t = await finish(s)
    const m = mover(s)
    await m.start()
    await waitFor('the journal to pass the garbage', reached(m, t), { timeoutMs: 30_000, intervalMs: 20 })
    expect(m.status()).toMatchObject({ frozen: [], deadLettered: { XRC_DECODE_FAILED: 1 } })
    await m.stop()
    // the markers set the garbage aside: resolving them never decodes it, and every write is there once
    const groups = await readGroups(kafka, admin, s)
    expectJournalMatches(groups, c.writes, t)
    const entries = await readJournal(kafka, admin, s.topics.journal, s.journalCodec)
    const ranges = entries.flatMap((e) => e.record.ranges ?? []).filter((r) => r.controller === 2)
    const garbage = ranges.flatMap((r) => r.setAside)
    expect(garbage.length).toBeLessThanOrEqual(1) // listed when one group takes both writes
  })

  it('pauses partitions whose buffer is full while T waits for a silent controller, then drains them', async () => {
    const bound = 32 * 1024
    const s = await session({ mover: { maxBufferedBytes: bound } })
    const c = s.controllers
    // controllers 0 and 1 write 300 KiB each; controller 2 says nothing, so no group can be cut
    for (let i = 0; i < 4; i++)
      await s.send(
        [0, 1].flatMap((ctl) => Array.from({ length: 25 }, (_, k) => c.updates(ctl, [[k % 2, (k * 3) % 60, 3]]))),
      )
    const m = mover(s)
    await m.start()
    let peak = 0
    await waitFor(
      'partitions 0 and 1 paused',
      () => {
        const st = m.status()
        peak = Math.max(peak, ...Object.values(st.bufferedBytes))
        return st.pausedPartitions.length === 2 ? st : undefined
      },
      { timeoutMs: 30_000, intervalMs: 5 },
    )
    expect(m.status().silentControllers).toEqual([2])
    expect(m.status().groupSeq).toBe(0)
    // a bound, one fetch (capped at the bound) and one record set
    expect(peak).toBeLessThanOrEqual(2 * bound + 3 * 512)
    const finalTime = await finish(s)
    await waitFor('all journaled', reached(m, finalTime), { timeoutMs: 60_000, intervalMs: 20 })
    expect(m.status().pausedPartitions).toEqual([])
    await m.stop()
    expectJournalMatches(await readGroups(kafka, admin, s), c.writes, finalTime)
  })

  it("halts (XRC_CLOCK_SKEW) when one controller's host clock lags past mover.maxClockSkewMs for the sustain time, not before", async () => {
    const s = await session({ mover: { maxClockSkewMs: 500, clockSkewSustainMs: 1000 } })
    const c = s.controllers
    const m = mover(s)
    await m.start()
    // a round: a heartbeat of every controller, sent together; the mover has read it once T passes it
    const round = async (sentAt?: (controller: number) => number | undefined): Promise<void> => {
      const hbs = c.heartbeats()
      await s.send(hbs, sentAt)
      const t = Math.min(...hbs.map((h) => h.maxTime))
      await waitFor('the round read', () => ((m.status().groupTime ?? 0) >= t || m.status().halt ? true : undefined), {
        timeoutMs: 30_000,
        intervalMs: 10,
      })
    }
    // the clocks agree: rounds for longer than the sustain time, no halt, a small skew in status
    const agreeUntil = Date.now() + 2500
    while (Date.now() < agreeUntil) await round()
    expect(m.status().halt).toBeUndefined()
    expect(m.status().clockSkew?.skewMs).toBeLessThan(500)
    expect(Object.keys(m.status().clockSkew?.offsetsMs ?? {}).sort()).toEqual(CONTROLLERS.map(String))
    const groupsBefore = m.status().groupSeq

    // controller 2's host clock falls 3 s behind: halted once the skew has lasted the sustain time
    const lagging = (controller: number) => (controller === 2 ? Date.now() - 3000 : undefined)
    const laggingSince = Date.now()
    await waitFor(
      'the clock skew halt',
      async () => {
        if (m.status().halt) return true
        await round(lagging)
        return undefined
      },
      { timeoutMs: 30_000, intervalMs: 0 },
    )
    const halt = m.status().halt
    expect(halt?.code).toBe('XRC_CLOCK_SKEW')
    expect(halt?.message).toMatch(/controller 2 lags/)
    expect(halt?.message).toMatch(/mover\.maxClockSkewMs = 500/)
    const skewMs = Number(halt?.context?.skewMs)
    expect(skewMs).toBeGreaterThan(2500)
    expect(skewMs).toBeLessThan(3500)
    // not before the sustain time: the samples since the lag began had to stay above the bound for 1 s
    expect(Date.now() - laggingSince).toBeGreaterThanOrEqual(1000)
    expect(m.status().state).toBe('halted')
    expect(groupsBefore).toBeGreaterThan(0)
  })

  it('refuses to start twice', async () => {
    const s = await session()
    const m = mover(s)
    await m.start()
    await expect(m.start()).rejects.toSatisfy((err) => isXrcError(err, 'XRC_USAGE'))
  })

  it('fails to start, and is stopped, when the updates topic does not appear in time', async () => {
    const config = loadConfig({
      overrides: {
        kafka: { brokers: stackInfo().kafkaBrokers },
        schemaRegistry: { url: stackInfo().registryUrl },
        session: { name: uniqueName('absent') },
      },
    })
    const m = createMover({ config, logger: silentLogger, kafka, topicWaitMs: 300 })
    await expect(m.start()).rejects.toSatisfy(
      (err) =>
        isXrcError(err, 'XRC_TIMEOUT') && /the updates topic xrc\.absent_.*\.updates/.test((err as Error).message),
    )
    expect(m.status().state).toBe('stopped')
    await m.stop()
  })
})
