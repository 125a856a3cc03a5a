/**
 * The applier against the real broker, registry and PostgreSQL: it follows a
 * hand-written journal (committed and aborted Kafka transactions, groups in
 * parts, duplicates, gaps, garbage) and the secondary must hold exactly the
 * image of the groups applied, each group once, never half of one. Groups
 * are written as markers with their updates on the updates topic (the kit's
 * default); one test writes the older format (updates in the journal's
 * parts), which an applier keeps applying during a rolling upgrade.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { KafkaAdmin, KafkaClient } from '../../lib/kafka/index.js'
import { createApplier, type Applier, type ApplierOptions } from '../../applier/index.js'
import { JOURNAL_FETCH_BYTES } from '../../applier/journal/index.js'
import { silentLogger } from '../../lib/logger.js'
import { createPool, type Pool } from '../../lib/postgres.js'
import { errorMessage } from '../../lib/errors.js'
import { waitFor } from '../../lib/retry.js'
import type { ConsistencyGroup, JournalRecord, UpdatesRange } from '../../schemas/journal.js'
import {
  createTestJournal,
  modelImage,
  randomGroups,
  testConfig,
  toRecords,
  TEST_BLOCK_SIZE,
  TEST_VOLUMES,
  type TestJournal,
} from '../kit/journal.js'
import { createTestSchema, stackInfo, testKafka } from '../kit/servers.js'
import { kafkajsOf } from '../../lib/kafka/client/kafkaClient.js'

let kafka: KafkaClient
let admin: KafkaAdmin
let pool: Pool
const cleanups: (() => Promise<void>)[] = []

beforeAll(async () => {
  kafka = testKafka()
  admin = kafka.admin()
  await admin.connect()
  pool = createPool({ url: stackInfo().databaseUrl, logger: silentLogger, max: 8 })
})

afterAll(async () => {
  for (const c of cleanups.reverse()) await c()
  await admin.disconnect()
  await pool.end()
})

interface Session {
  journal: TestJournal
  schema: string
  newApplier: (extra?: Partial<ApplierOptions>) => Applier
  appliedSeqs: () => Promise<number[]>
  expectImage: (applier: Applier, groups: ConsistencyGroup[], uptoSeq?: number) => Promise<void>
}

/** A session of its own: journal topic, subject, schema; everything removed after the file. */
async function newSession(): Promise<Session> {
  const journal = await createTestJournal(kafka, admin)
  const pg = await createTestSchema('xrc_applier')
  cleanups.push(() => journal.cleanup(), pg.drop)
  const config = testConfig(journal.session, pg.schema)
  return {
    journal,
    schema: pg.schema,
    newApplier(extra = {}) {
      const applier = createApplier({ config, logger: silentLogger, kafka, pool, ...extra })
      cleanups.push(() => applier.stop())
      return applier
    },
    async appliedSeqs() {
      const res = await pg.client.query<{ group_seq: string }>(
        `SELECT group_seq::text AS group_seq FROM "${pg.schema}".applied_groups ORDER BY applied_groups.group_seq`,
      )
      return res.rows.map((r) => Number(r.group_seq))
    },
    async expectImage(applier, groups, uptoSeq) {
      for (const v of TEST_VOLUMES) {
        const { image } = await applier.store.readImage(v.name)
        expect(
          image.equals(modelImage(groups, v.name, uptoSeq)),
          `volume ${v.name} as of group ${uptoSeq ?? 'last'}`,
        ).toBe(true)
      }
    },
  }
}

/** deleteRecords on the updates topic, with kafkajs (which finds the partition leader only after a metadata fetch). */
async function deleteUpdates(topic: string, before: number): Promise<void> {
  const [{ high } = { high: '0' }] = await admin.fetchTopicOffsets(topic)
  const target = before === -1 ? Number(high) : before
  const raw = kafkajsOf(kafka).admin()
  await raw.connect()
  try {
    await raw.fetchTopicMetadata({ topics: [topic] })
    await raw.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: String(before) }] })
  } finally {
    await raw.disconnect()
  }
  // the applier made next must find them gone: a CI run saw one apply the updates this was to delete
  await waitFor(
    `${topic} partition 0 to start at ${target}`,
    async () => (Number((await admin.fetchTopicOffsets(topic))[0]?.low) >= target ? true : undefined),
    { timeoutMs: 30_000, intervalMs: 20 },
  )
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i)

async function metricValue(applier: Applier, name: string): Promise<number | undefined> {
  const metric = (await applier.metrics.getMetricsAsJSON()).find((m) => m.name === name)
  return (metric?.values[0] as { value: number } | undefined)?.value
}

async function haltedWith(applier: Applier, code: string): Promise<void> {
  await waitFor(`the applier to halt with ${code}`, () => (applier.status().state === 'halted' ? true : undefined), {
    timeoutMs: 60_000,
    intervalMs: 25,
  }).catch((err: unknown) => {
    // what it was doing instead: the evidence a failure under CI's load leaves
    throw new Error(`${errorMessage(err)}; the applier's status: ${JSON.stringify(applier.status())}`, { cause: err })
  })
  expect(applier.status().halt?.code, applier.status().halt?.message).toBe(code)
}

describe('applier', () => {
  it('applies groups in order, each once, and follows groups committed later', async () => {
    const s = await newSession()
    const groups = randomGroups(s.journal.session, 8)
    for (const g of groups.slice(0, 6)) await s.journal.write(toRecords(g))
    const applier = s.newApplier()
    await applier.start()
    expect(await applier.waitCaughtUp({ timeoutMs: 60_000 })).toBe(true)
    expect(applier.status().lastApplied).toMatchObject({ groupSeq: 6, groupTime: groups[5]?.groupTime })
    await s.expectImage(applier, groups, 6)

    for (const g of groups.slice(6)) await s.journal.write(toRecords(g))
    expect(await applier.waitCaughtUp({ timeoutMs: 60_000 })).toBe(true)
    await s.expectImage(applier, groups)
    expect(await s.appliedSeqs()).toEqual(range(1, 8))
    expect(applier.status()).toMatchObject({ state: 'running', groupsApplied: 8, duplicatesSkipped: 0 })
    expect(applier.health().status).toBe('ok')
    expect(await metricValue(applier, 'xrc_applier_groups_applied_total')).toBe(8)
    expect(await metricValue(applier, 'xrc_applier_blocks_applied_total')).toBe(
      groups.reduce((n, g) => n + g.updates.length, 0),
    )
    expect(await metricValue(applier, 'xrc_applier_consistency_time_seconds')).toBeCloseTo(
      (groups[7]?.groupTime ?? 0) / 1e6,
      3,
    )
    expect(await metricValue(applier, 'xrc_applier_halted')).toBe(0)
    await applier.stop()
    expect(applier.status()).toMatchObject({ state: 'stopped', stopReason: 'requested' })
  })

  it('applies groups of the older format: joins a multi-part group whole, at its last part offset', async () => {
    const s = await newSession()
    const [g1, g2, g3] = randomGroups(s.journal.session, 3, { maxUpdates: 3 })
    if (!g1 || !g2 || !g3) throw new Error('three groups')
    // group 2: 40 blocks in 4 parts of one transaction
    g2.updates = Array.from({ length: 40 }, (_, i) => ({
      controller: 0,
      seq: 100 + i,
      time: g2.groupTime,
      volume: i < 30 ? 'va' : 'vb',
      block: (i % 30) * 2,
      data: randomBytes(TEST_BLOCK_SIZE),
    }))
    await s.journal.write(toRecords(g1), { asIs: true })
    await s.journal.write(toRecords(g2, 4), { asIs: true })
    await s.journal.write(toRecords(g3), { asIs: true })
    const applier = s.newApplier()
    await applier.start()
    expect(await applier.waitCaughtUp({ timeoutMs: 60_000 })).toBe(true)
    await s.expectImage(applier, [g1, g2, g3])
    const rows = await pool.query<{ group_seq: bigint; journal_offset: bigint; updates: number }>(
      `SELECT group_seq, journal_offset, updates FROM "${s.schema}".applied_groups ORDER BY group_seq`,
    )
    // offsets: g1 at 0 (marker 1); g2's parts at 2..5 (marker 6); g3 at 7
    expect(rows.rows.map((r) => [Number(r.group_seq), Number(r.journal_offset), r.updates])).toEqual([
      [1, 0, g1.updates.length],
      [2, 5, 40],
      [3, 7, g3.updates.length],
    ])
  })

  it('applies a group of the older format whose record is larger than the journal fetch (JOURNAL_FETCH_BYTES)', async () => {
    const s = await newSession()
    const [g1, g2] = randomGroups(s.journal.session, 2, { maxUpdates: 3 })
    if (!g1 || !g2) throw new Error('two groups')
    // group 1 in one record of 100 blocks (over 400 KiB): the broker returns it whole to a smaller fetch
    g1.updates = Array.from({ length: 100 }, (_, i) => ({
      controller: 0,
      seq: 1 + i,
      time: g1.groupTime,
      volume: i < 64 ? 'va' : 'vb',
      block: i < 64 ? i : i - 64,
      data: randomBytes(TEST_BLOCK_SIZE),
    }))
    expect(g1.updates.length * TEST_BLOCK_SIZE).toBeGreaterThan(JOURNAL_FETCH_BYTES)
    await s.journal.write(toRecords(g1), { asIs: true })
    await s.journal.write(toRecords(g2), { asIs: true })
    const applier = s.newApplier()
    await applier.start()
    expect(await applier.waitCaughtUp({ timeoutMs: 60_000 })).toBe(true)
    await s.expectImage(applier, [g1, g2])
    expect(await s.appliedSeqs()).toEqual([1, 2])
  })

  it('never applies a group from an aborted Kafka transaction', async () => {
    const s = await newSession()
    const groups = randomGroups(s.journal.session, 4)
    const [g1, g2, g3, g4] = groups as [ConsistencyGroup, ConsistencyGroup, ConsistencyGroup, ConsistencyGroup]
    // an aborted attempt at group 2, with other data, then the committed group 2
    const abortedG2 = randomGroups(s.journal.session, 2, { maxUpdates: 20 })[1] as ConsistencyGroup
    await s.journal.write(toRecords(g1))
    await s.journal.write(toRecords({ ...abortedG2, groupSeq: 2, groupTime: g2.groupTime }, 2), { abort: true })
    await s.journal.write(toRecords(g2))
    await s.journal.write(toRecords(g3))
    // the journal ends in an aborted transaction: catching up must still be seen
    await s.journal.write(toRecords(g4, 2), { abort: true })
    const applier = s.newApplier()
    await applier.start()
    expect(await applier.waitCaughtUp({ timeoutMs: 60_000 })).toBe(true)
    expect(await s.appliedSeqs()).toEqual([1, 2, 3])
    await s.expectImage(applier, [g1, g2, g3])
    expect(applier.status().duplicatesSkipped).toBe(0)
  })

  it('skips groups applied before, and halts on a gap with XRC_GROUP_OUT_OF_ORDER without skipping it', async () => {
    const s = await newSession()
    const groups = randomGroups(s.journal.session, 6)
    const [g1, g2, g3, g4, , g6] = groups as ConsistencyGroup[]
    for (const g of [g1, g2, g3, g2, g3, g4, g6] as ConsistencyGroup[]) await s.journal.write(toRecords(g))
    const applier = s.newApplier()
    await applier.start()
    await haltedWith(applier, 'XRC_GROUP_OUT_OF_ORDER')
    expect(applier.status().halt?.message).toMatch(/group 6 .* follows applied group 4 .*groups 5\.\.5 are missing/)
    expect(applier.status()).toMatchObject({ lastApplied: { groupSeq: 4 }, groupsApplied: 4, duplicatesSkipped: 2 })
    expect(applier.health().status).toBe('halted')
    expect(await metricValue(applier, 'xrc_applier_halted')).toBe(1)
    await expect(applier.waitCaughtUp()).rejects.toMatchObject({ code: 'XRC_GROUP_OUT_OF_ORDER' })
    expect(await s.appliedSeqs()).toEqual([1, 2, 3, 4])
    await s.expectImage(applier, groups, 4)

    // a restart does not skip the gap either
    const again = s.newApplier()
    await again.start()
    await haltedWith(again, 'XRC_GROUP_OUT_OF_ORDER')
    expect(again.status()).toMatchObject({ lastApplied: { groupSeq: 4 }, groupsApplied: 0 })
  })

  it('resumes from the control table after a stop mid-stream; every group is applied exactly once', async () => {
    const s = await newSession()
    const groups = randomGroups(s.journal.session, 12, { maxUpdates: 30 })
    for (const g of groups.slice(0, 10)) await s.journal.write(toRecords(g, 2))
    const first = s.newApplier()
    await first.start()
    await waitFor('a few groups applied', () => (first.status().groupsApplied >= 2 ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 5,
    })
    await first.stop()
    const held = (await first.store.lastApplied())?.groupSeq ?? 0
    expect(held).toBeGreaterThanOrEqual(2)
    // whatever was applied is whole: the image is exactly the one as of the last applied group
    expect(await s.appliedSeqs()).toEqual(range(1, held))
    await s.expectImage(first, groups, held)

    for (const g of groups.slice(10)) await s.journal.write(toRecords(g))
    const second = s.newApplier()
    await second.start()
    expect(await second.waitCaughtUp({ timeoutMs: 60_000 })).toBe(true)
    expect(second.status()).toMatchObject({
      groupsApplied: 12 - held,
      duplicatesSkipped: 0,
      lastApplied: { groupSeq: 12 },
    })
    expect(await s.appliedSeqs()).toEqual(range(1, 12))
    await s.expectImage(second, groups)
  })

  it('two appliers on one secondary apply each group once (the control row lock)', async () => {
    const s = await newSession()
    const groups = randomGroups(s.journal.session, 15)
    for (const g of groups) await s.journal.write(toRecords(g))
    const a = s.newApplier()
    const b = s.newApplier()
    await Promise.all([a.start(), b.start()])
    await Promise.all([a.waitCaughtUp({ timeoutMs: 60_000 }), b.waitCaughtUp({ timeoutMs: 60_000 })])
    expect(a.status().groupsApplied + b.status().groupsApplied).toBe(15)
    expect(a.status().groupsApplied + a.status().duplicatesSkipped).toBe(15)
    expect(await s.appliedSeqs()).toEqual(range(1, 15))
    await s.expectImage(a, groups)
  })

  it('applies up to a stop time, then stops', async () => {
    const s = await newSession()
    const groups = randomGroups(s.journal.session, 6)
    for (const g of groups) await s.journal.write(toRecords(g))
    const stopAtTime = (groups[3]?.groupTime ?? 0) + 1 // between groups 4 and 5
    const applier = s.newApplier({ stopAtTime })
    await applier.start()
    expect(await applier.done).toEqual({ outcome: 'stopped', reason: 'finished' })
    expect(applier.status()).toMatchObject({ state: 'stopped', stopReason: 'stop-time', lastApplied: { groupSeq: 4 } })
    expect(await s.appliedSeqs()).toEqual([1, 2, 3, 4])
    const { image } = await applier.store.readImage('va')
    expect(image.equals(modelImage(groups, 'va', 4))).toBe(true)
  })

  it('halts on a record that is not a journal record (XRC_DECODE_FAILED)', async () => {
    const s = await newSession()
    const [g1, g2] = randomGroups(s.journal.session, 2) as [ConsistencyGroup, ConsistencyGroup]
    await s.journal.write(toRecords(g1))
    await s.journal.writeRaw([Buffer.from('not avro at all')])
    await s.journal.write(toRecords(g2))
    const applier = s.newApplier()
    await applier.start()
    await haltedWith(applier, 'XRC_DECODE_FAILED')
    expect(applier.status().lastApplied?.groupSeq).toBe(1)
    expect(await s.appliedSeqs()).toEqual([1])
  })

  it('halts on parts that do not form a group (XRC_GROUP_INCOMPLETE), applying none of it', async () => {
    const s = await newSession()
    const [g1, g2, g3] = randomGroups(s.journal.session, 3, { maxUpdates: 20 }) as [
      ConsistencyGroup,
      ConsistencyGroup,
      ConsistencyGroup,
    ]
    await s.journal.write(toRecords(g1))
    await s.journal.write(toRecords(g2, 3).slice(0, 2), { asIs: true }) // part 2 of 3 never written
    await s.journal.write(toRecords(g3))
    const applier = s.newApplier()
    await applier.start()
    await haltedWith(applier, 'XRC_GROUP_INCOMPLETE')
    expect(applier.status().halt?.message).toMatch(/group 2 is cut short/)
    expect(await s.appliedSeqs()).toEqual([1])
    await s.expectImage(applier, [g1])
  })

  it('halts on an update the secondary cannot hold (XRC_INVALID_RECORD), writing none of its group', async () => {
    const s = await newSession()
    const [g1, g2] = randomGroups(s.journal.session, 2, { maxUpdates: 5 }) as [ConsistencyGroup, ConsistencyGroup]
    g2.updates.push({
      controller: 0,
      seq: 999,
      time: g2.groupTime,
      volume: 'va',
      block: 64,
      data: Buffer.alloc(4096, 1),
    })
    await s.journal.write(toRecords(g1))
    await s.journal.write(toRecords(g2))
    const applier = s.newApplier()
    await applier.start()
    await haltedWith(applier, 'XRC_INVALID_RECORD')
    expect(applier.status().halt?.message).toMatch(/block 64 of volume "va", which has blocks 0\.\.63/)
    expect(await s.appliedSeqs()).toEqual([1])
    await s.expectImage(applier, [g1])
  })
})

describe('applier: markers (the updates topic is the journal)', () => {
  it('applies a mix of markers and groups of the older format in journal order (a rolling upgrade)', async () => {
    const s = await newSession()
    const groups = randomGroups(s.journal.session, 6, { maxUpdates: 10 })
    for (const [i, g] of groups.entries()) await s.journal.write(toRecords(g), { asIs: i % 2 === 1 })
    const applier = s.newApplier()
    await applier.start()
    expect(await applier.waitCaughtUp({ timeoutMs: 60_000 })).toBe(true)
    expect(await s.appliedSeqs()).toEqual(range(1, 6))
    await s.expectImage(applier, groups)
  })

  it('never decodes set-aside offsets: garbage inside the ranges is skipped, every group applies', async () => {
    const s = await newSession()
    const groups = randomGroups(s.journal.session, 5, { maxUpdates: 12 })
    for (const g of groups) await s.journal.write(toRecords(g), { setAsideGarbage: true })
    expect(s.journal.markers.some((m) => (m.ranges?.[0]?.setAside.length ?? 0) > 0)).toBe(true)
    const applier = s.newApplier()
    await applier.start()
    expect(await applier.waitCaughtUp({ timeoutMs: 60_000 })).toBe(true)
    expect(await s.appliedSeqs()).toEqual(range(1, 5))
    await s.expectImage(applier, groups)
  })

  it('halts with XRC_UPDATES_GONE when the updates a marker names were deleted, applying nothing', async () => {
    const s = await newSession()
    const groups = randomGroups(s.journal.session, 3, { maxUpdates: 8 })
    for (const g of groups) await s.journal.write(toRecords(g))
    // retention (here deleteRecords) removes the first group's updates before any applier ran
    const firstEnd = s.journal.markers[0]?.ranges?.[0]?.toOffset as number
    await deleteUpdates(s.journal.updatesTopic, firstEnd)
    const applier = s.newApplier()
    await applier.start()
    await haltedWith(applier, 'XRC_UPDATES_GONE')
    expect(applier.status().halt?.message).toMatch(
      new RegExp(`group 1 takes updates-topic partition 0 from offset 0, but the topic .* now starts at ${firstEnd}`),
    )
    expect(applier.status().halt?.message).toMatch(/retention\.ms\/retention\.bytes/)
    expect(await s.appliedSeqs()).toEqual([])
  })

  it('halts with XRC_UPDATES_GONE on a restart when the partition was emptied past what the next marker needs', async () => {
    const s = await newSession()
    // group 2 needs updates (a random group may have none: its marker would need nothing, and it would apply)
    const groups = randomGroups(s.journal.session, 2, { maxUpdates: 8, minUpdates: 1 })
    await s.journal.write(toRecords(groups[0] as ConsistencyGroup))
    const first = s.newApplier()
    await first.start()
    expect(await first.waitCaughtUp({ timeoutMs: 60_000 })).toBe(true)
    await first.stop()
    await s.journal.write(toRecords(groups[1] as ConsistencyGroup))
    // nothing left on the partition: no record arrives, the waiting marker finds the log start past it
    await deleteUpdates(s.journal.updatesTopic, -1)
    const applier = s.newApplier()
    await applier.start()
    await haltedWith(applier, 'XRC_UPDATES_GONE')
    expect(applier.status().halt?.message).toMatch(/group 2 takes updates-topic partition 0/)
    expect(await s.appliedSeqs()).toEqual([1])
  })

  it('halts with XRC_GROUP_INCOMPLETE on a marker naming a seq that is not there, applying none of it', async () => {
    const s = await newSession()
    const [g1, g2] = randomGroups(s.journal.session, 2, { maxUpdates: 8 }) as [ConsistencyGroup, ConsistencyGroup]
    await s.journal.write(toRecords(g1))
    await s.journal.write(toRecords(g2))
    const m2 = s.journal.markers[1] as JournalRecord
    const r = m2.ranges?.[0] as UpdatesRange
    // group 3 claims a seq past everything written, in an empty range
    const m3: JournalRecord = {
      ...m2,
      groupSeq: 3,
      groupTime: g2.groupTime + 10,
      ranges: [{ ...r, fromOffset: r.toOffset, firstSeq: r.lastSeq + 1, lastSeq: r.lastSeq + 1, setAside: [] }],
    }
    await s.journal.write([m3], { asIs: true })
    const applier = s.newApplier()
    await applier.start()
    await haltedWith(applier, 'XRC_GROUP_INCOMPLETE')
    expect(applier.status().halt?.message).toMatch(/the marker of group 3 .*controller 0 seq \d+ is not in offsets/)
    expect(await s.appliedSeqs()).toEqual([1, 2])
    await s.expectImage(applier, [g1, g2])
  })

  it('applies a backlog in fewer transactions than groups: each group once, a history row each', async () => {
    const s = await newSession()
    const groups = randomGroups(s.journal.session, 40, { maxUpdates: 8 })
    await s.journal.write(groups.flatMap((g) => toRecords(g)))
    const seen: number[] = []
    const applier = s.newApplier({ onGroup: (e) => seen.push(e.groupSeq) })
    await applier.start()
    expect(await applier.waitCaughtUp({ timeoutMs: 60_000 })).toBe(true)
    expect(await s.appliedSeqs()).toEqual(range(1, 40))
    expect(seen).toEqual(range(1, 40))
    await s.expectImage(applier, groups)
    expect(await metricValue(applier, 'xrc_applier_groups_applied_total')).toBe(40)
    const transactions = (await metricValue(applier, 'xrc_applier_transactions_total')) ?? Number.NaN
    expect(transactions).toBeGreaterThanOrEqual(1)
    expect(transactions).toBeLessThan(40)
    expect(applier.status()).toMatchObject({ groupsApplied: 40, duplicatesSkipped: 0, lastApplied: { groupSeq: 40 } })
  })

  it('cuts a batch at a gap: the groups before it commit, then it halts with none of the later group', async () => {
    const s = await newSession()
    const groups = randomGroups(s.journal.session, 8, { maxUpdates: 6 })
    const sent = groups.filter((g) => g.groupSeq !== 6)
    await s.journal.write(sent.flatMap((g) => toRecords(g)))
    const applier = s.newApplier()
    await applier.start()
    await haltedWith(applier, 'XRC_GROUP_OUT_OF_ORDER')
    expect(applier.status().halt?.message).toMatch(/group 7 .* follows applied group 5 .*groups 6\.\.6 are missing/)
    expect(await s.appliedSeqs()).toEqual(range(1, 5))
    await s.expectImage(applier, groups, 5)
    expect(await metricValue(applier, 'xrc_applier_transactions_total')).toBeLessThan(5)
  })

  it('applies one group per transaction with applier.maxBatchBytes 0', async () => {
    const s = await newSession()
    const groups = randomGroups(s.journal.session, 10, { maxUpdates: 6 })
    await s.journal.write(groups.flatMap((g) => toRecords(g)))
    const base = testConfig(s.journal.session, s.schema)
    const applier = s.newApplier({ config: { ...base, applier: { ...base.applier, maxBatchBytes: 0 } } })
    await applier.start()
    expect(await applier.waitCaughtUp({ timeoutMs: 60_000 })).toBe(true)
    expect(await s.appliedSeqs()).toEqual(range(1, 10))
    await s.expectImage(applier, groups)
    const empty = groups.filter((g) => g.updates.length === 0).length
    // a group without blocks may join the one before it (0 bytes fit)
    expect(await metricValue(applier, 'xrc_applier_transactions_total')).toBeGreaterThanOrEqual(10 - empty)
  })

  it('keeps the updates it holds under its bound with a backlog of many groups', async () => {
    const s = await newSession()
    const groups = randomGroups(s.journal.session, 60, { maxUpdates: 12 })
    for (let i = 0; i < groups.length; i += 10) {
      await s.journal.write(groups.slice(i, i + 10).flatMap((g) => toRecords(g)))
    }
    const backlog = groups.reduce((n, g) => n + g.updates.length * TEST_BLOCK_SIZE, 0)
    const readAheadBytes = 64 * 1024
    const base = testConfig(s.journal.session, s.schema)
    const applier = s.newApplier({ config: { ...base, applier: { ...base.applier, readAheadBytes } } })
    await applier.start()
    expect(await applier.waitCaughtUp({ timeoutMs: 120_000 })).toBe(true)
    expect(await s.appliedSeqs()).toEqual(range(1, 60))
    await s.expectImage(applier, groups)
    const peak = (await metricValue(applier, 'xrc_applier_updates_held_peak_bytes')) ?? Number.NaN
    const biggest = Math.max(...groups.map((g) => g.updates.length)) * (TEST_BLOCK_SIZE + 64) + 64 * 12
    // the head group, the read-ahead and one fetch (a fetch returns at least one whole batch: a group's record sets)
    const bound = 2 * biggest + 2 * readAheadBytes + 64 * 1024
    expect(peak).toBeGreaterThan(0)
    expect(peak).toBeLessThanOrEqual(bound)
    expect(bound).toBeLessThan(backlog / 3)
  })
})
