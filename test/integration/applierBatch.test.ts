/**
 * Several groups in one transaction, on the real PostgreSQL: the store's
 * applyGroups keeps each group's rules within the batch (order against the
 * group before it, duplicates skipped, a gap or a bad group refusing the
 * whole transaction, one history row per group, each block row carrying the
 * group that wrote it last), and a COMMIT whose outcome is unknown in the
 * middle of a backlog ends with every group applied exactly once.
 */
import { randomBytes } from 'node:crypto'
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBlockStore, type BlockStore } from '../../applier/index.js'
import { createApplierMetrics } from '../../applier/applierMetrics.js'
import type { AssembledGroup } from '../../applier/journal/index.js'
import { GroupApplier } from '../../applier/run/index.js'
import { silentLogger } from '../../lib/logger.js'
import { OutageWatch } from '../../lib/outage.js'
import { createOutageMetrics } from '../../lib/outageMetrics.js'
import { createPool, type Pool, type PoolClient } from '../../lib/postgres.js'
import type { ConsistencyGroup, JournalWindow } from '../../schemas/journal.js'
import { modelImage, randomGroups, TEST_BLOCK_SIZE, TEST_VOLUMES } from '../kit/journal.js'
import { createTestSchema, stackInfo } from '../kit/servers.js'

let pool: Pool
const cleanups: (() => Promise<void>)[] = []
const SESSION = 'batch_test'

beforeAll(() => {
  pool = createPool({ url: stackInfo().databaseUrl, logger: silentLogger, max: 8 })
})

afterAll(async () => {
  for (const c of cleanups.reverse()) await c()
  await pool.end()
})

/**
 * A pool whose next COMMIT fails as a dropped connection would: after the
 * server committed ('committed') or before it was sent ('lost').
 */
function flakyPool(): { pool: Pool; failNextCommit: (how: 'committed' | 'lost') => void; cuts: () => number } {
  let armed: 'committed' | 'lost' | undefined
  let cuts = 0
  const wrapped = {
    query: pool.query.bind(pool),
    async connect(): Promise<PoolClient> {
      const client = await pool.connect()
      return new Proxy(client, {
        get(target, prop) {
          if (prop === 'query') {
            return (text: unknown, ...rest: unknown[]): Promise<unknown> => {
              const how = armed
              if (text === 'COMMIT' && how !== undefined) {
                armed = undefined
                cuts++
                const lost = (): never => {
                  throw new Error('Connection terminated unexpectedly')
                }
                return (how === 'committed' ? target.query('COMMIT') : Promise.resolve()).then(lost)
              }
              return (target.query as (...a: unknown[]) => Promise<unknown>)(text, ...rest)
            }
          }
          const v: unknown = Reflect.get(target, prop)
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
        },
      })
    },
  }
  return { pool: wrapped as unknown as Pool, failNextCommit: (how) => (armed = how), cuts: () => cuts }
}

async function newStore(storePool: Pool = pool): Promise<{ store: BlockStore; schema: string }> {
  const pg = await createTestSchema('xrc_batch')
  cleanups.push(pg.drop)
  const store = createBlockStore({
    pool: storePool,
    schema: pg.schema,
    session: SESSION,
    blockSize: TEST_BLOCK_SIZE,
    volumes: TEST_VOLUMES,
    logger: silentLogger,
  })
  await store.init()
  return { store, schema: pg.schema }
}

/** Group i at journal offset 2i (its last record). */
const batchOf = (groups: readonly ConsistencyGroup[]): { group: ConsistencyGroup; journalOffset: number }[] =>
  groups.map((group) => ({ group, journalOffset: 2 * group.groupSeq }))

async function history(schema: string): Promise<{ seq: number; time: number; offset: number; updates: number }[]> {
  const res = await pool.query<{ s: string; t: string; o: string; u: number }>(
    `SELECT group_seq::text s, group_time::text t, journal_offset::text o, updates u
     FROM "${schema}".applied_groups ORDER BY group_seq`,
  )
  return res.rows.map((r) => ({ seq: Number(r.s), time: Number(r.t), offset: Number(r.o), updates: r.u }))
}

async function expectImage(store: BlockStore, groups: readonly ConsistencyGroup[]): Promise<void> {
  for (const v of TEST_VOLUMES) {
    const { image } = await store.readImage(v.name)
    expect(image.equals(modelImage(groups, v.name)), `volume ${v.name}`).toBe(true)
  }
}

const expectedHistory = (groups: readonly ConsistencyGroup[]): Awaited<ReturnType<typeof history>> =>
  groups.map((g) => ({ seq: g.groupSeq, time: g.groupTime, offset: 2 * g.groupSeq, updates: g.updates.length }))

describe('applyGroups', () => {
  it('applies a batch whole: one history row per group, the control row at the last, each row its writer', async () => {
    const { store, schema } = await newStore()
    const groups = randomGroups(SESSION, 12, { maxUpdates: 20 })
    expect(await store.applyGroups(batchOf(groups))).toEqual(groups.map(() => 'applied'))
    expect(await history(schema)).toEqual(expectedHistory(groups))
    const last = groups[groups.length - 1] as ConsistencyGroup
    expect(await store.lastApplied()).toEqual({ groupSeq: last.groupSeq, groupTime: last.groupTime, journalOffset: 24 })
    await expectImage(store, groups)
    // every block row carries the seq and time of the last group that wrote it
    const writer = new Map<string, ConsistencyGroup>()
    for (const g of groups) for (const u of g.updates) writer.set(`${u.volume}:${u.block}`, g)
    const rows = await pool.query<{ name: string; block: string; s: string; t: string }>(
      `SELECT v.name, b.block::text block, b.group_seq::text s, b.group_time::text t
       FROM "${schema}".blocks b JOIN "${schema}".volumes v ON v.id = b.volume_id`,
    )
    expect(rows.rows.length).toBe(writer.size)
    for (const r of rows.rows) {
      const g = writer.get(`${r.name}:${r.block}`) as ConsistencyGroup
      expect([Number(r.s), Number(r.t)]).toEqual([g.groupSeq, g.groupTime])
    }
  })

  it('skips the groups applied before within a batch and applies the rest', async () => {
    const { store, schema } = await newStore()
    const groups = randomGroups(SESSION, 6)
    expect(await store.applyGroups(batchOf(groups.slice(0, 3)))).toEqual(['applied', 'applied', 'applied'])
    expect(await store.applyGroups(batchOf(groups.slice(1)))).toEqual([
      'duplicate',
      'duplicate',
      'applied',
      'applied',
      'applied',
    ])
    expect(await history(schema)).toEqual(expectedHistory(groups))
    await expectImage(store, groups)
    // a duplicate with another time is a journal this store did not follow
    const other = { ...(groups[1] as ConsistencyGroup), groupTime: (groups[1] as ConsistencyGroup).groupTime + 1 }
    await expect(store.applyGroups(batchOf([other]))).rejects.toMatchObject({ code: 'XRC_GROUP_OUT_OF_ORDER' })
  })

  it('refuses the whole transaction on a gap or a bad group inside the batch: nothing of it is written', async () => {
    const { store, schema } = await newStore()
    const groups = randomGroups(SESSION, 6, { maxUpdates: 8 })
    const [g1, g2, g3, , g5] = groups as ConsistencyGroup[]
    await store.applyGroup(g1 as ConsistencyGroup, 2)
    await expect(store.applyGroups(batchOf([g2, g3, g5] as ConsistencyGroup[]))).rejects.toMatchObject({
      code: 'XRC_GROUP_OUT_OF_ORDER',
      message: expect.stringMatching(/groups 4\.\.4 are missing/),
    })
    const bad = { ...(g3 as ConsistencyGroup), updates: [{ ...fillerUpdate(), block: 1e9 }] }
    await expect(store.applyGroups(batchOf([g2, bad] as ConsistencyGroup[]))).rejects.toMatchObject({
      code: 'XRC_INVALID_RECORD',
    })
    expect(await history(schema)).toEqual(expectedHistory([g1 as ConsistencyGroup]))
    await expectImage(store, [g1 as ConsistencyGroup])
    expect((await store.lastApplied())?.groupSeq).toBe(1)
  })
})

describe('applyGroups with resync windows', () => {
  const window = (event: 'BEGIN' | 'END', time: number, consistentUntil = 0): JournalWindow => ({
    controller: 0,
    time,
    event,
    epoch: 1,
    consistentUntil,
    blocks: event === 'BEGIN' ? 3 : 0,
    reason: event === 'BEGIN' ? 'operator' : '',
  })

  /** What a store holds: blocks, kept versions, resync rows and image state, in a comparable form. */
  async function contents(schema: string): Promise<unknown> {
    const q = async (sql: string): Promise<unknown[]> => (await pool.query(sql.replaceAll('S.', `"${schema}".`))).rows
    return {
      blocks: await q(`SELECT volume_id, block::text, group_seq::text, group_time::text, md5(data) FROM S.blocks
        ORDER BY 1, 2`),
      versions: await q(`SELECT volume_id, block::text, group_seq::text, group_time::text, md5(data)
        FROM S.block_versions ORDER BY 1, 2`),
      resync: await q(`SELECT epoch::text, state, consistent_until::text, end_time::text FROM S.resync ORDER BY 1`),
      image: await q(`SELECT state, consistent_group_seq::text, consistent_group_time::text FROM S.resync_image`),
    }
  }

  it('a batch that opens and closes a window leaves the store exactly as the groups one by one', async () => {
    const groups = randomGroups(SESSION, 12, { maxUpdates: 10 })
    const at = (i: number): ConsistencyGroup => groups[i] as ConsistencyGroup
    // a BEGIN in group 4 (consistent until group 2's time), its END in group 9: groups 4..8 are inconsistent
    at(3).windows = [window('BEGIN', at(3).groupTime - 1, at(1).groupTime)]
    at(8).windows = [window('END', at(8).groupTime - 1)]
    const one = await newStore()
    for (const g of batchOf(groups)) expect(await one.store.applyGroup(g.group, g.journalOffset)).toBe('applied')
    const batched = await newStore()
    // batches that start, straddle and end the window
    for (const [from, to] of [
      [0, 2],
      [2, 6],
      [6, 7],
      [7, 12],
    ] as const) {
      const outcomes = await batched.store.applyGroups(batchOf(groups.slice(from, to)))
      expect(outcomes).toEqual(groups.slice(from, to).map(() => 'applied'))
      const midOne = await newStore()
      for (const g of batchOf(groups.slice(0, to))) await midOne.store.applyGroup(g.group, g.journalOffset)
      expect(await contents(batched.schema)).toEqual(await contents(midOne.schema))
      expect(batched.store.consistency()).toEqual(midOne.store.consistency())
      expect(batched.store.consistency()?.state).toBe(to === 6 || to === 7 ? 'inconsistent' : 'consistent')
    }
    expect(await contents(batched.schema)).toEqual(await contents(one.schema))
    expect(batched.store.consistency()).toEqual(one.store.consistency())
    expect(await history(batched.schema)).toEqual(expectedHistory(groups))
  })
})

describe('GroupApplier.applyBatch', () => {
  function applierOf(store: BlockStore): { groups: GroupApplier; transactions: () => Promise<number> } {
    const registry = new Registry()
    const outage = { watch: new OutageWatch(), metrics: createOutageMetrics(registry, 'applier', () => undefined) }
    const groups = new GroupApplier(store, createApplierMetrics(registry), silentLogger, outage)
    return {
      groups,
      async transactions() {
        const m = (await registry.getMetricsAsJSON()).find((x) => x.name === 'xrc_applier_transactions_total')
        return (m?.values[0]?.value as number | undefined) ?? 0
      },
    }
  }
  const assembled = (groups: readonly ConsistencyGroup[]): AssembledGroup[] =>
    groups.map((group) => ({ group, firstOffset: 2 * group.groupSeq, lastOffset: 2 * group.groupSeq }))
  const signal = new AbortController().signal

  for (const how of ['committed', 'lost'] as const) {
    it(`a COMMIT of a batch whose outcome is unknown (${how}) ends with each group applied exactly once`, async () => {
      const flaky = flakyPool()
      const { store, schema } = await newStore(flaky.pool)
      const { groups: applier, transactions } = applierOf(store)
      const groups = randomGroups(SESSION, 10, { maxUpdates: 6 })
      expect(await applier.applyBatch(assembled(groups.slice(0, 3)), signal)).toEqual({
        outcomes: ['applied', 'applied', 'applied'],
      })
      flaky.failNextCommit(how)
      expect(await applier.applyBatch(assembled(groups.slice(3)), signal)).toEqual({
        outcomes: groups.slice(3).map(() => 'applied'),
      })
      expect(flaky.cuts()).toBe(1)
      expect(await history(schema)).toEqual(expectedHistory(groups))
      await expectImage(store, groups)
      expect(await transactions()).toBe(2)
    })
  }

  it('a batch failing on a group no retry helps commits the groups before it and names the group', async () => {
    const { store, schema } = await newStore()
    const { groups: applier } = applierOf(store)
    const groups = randomGroups(SESSION, 5, { maxUpdates: 6 })
    const bad = { ...(groups[3] as ConsistencyGroup), updates: [{ ...fillerUpdate(), block: 1e9 }] }
    const result = await applier.applyBatch(assembled([...groups.slice(0, 3), bad]), signal)
    expect(result.outcomes).toEqual(['applied', 'applied', 'applied'])
    expect(result.failure?.index).toBe(3)
    expect(result.failure?.err).toMatchObject({ code: 'XRC_INVALID_RECORD' })
    expect(await history(schema)).toEqual(expectedHistory(groups.slice(0, 3)))
  })
})

function fillerUpdate(): ConsistencyGroup['updates'][number] {
  const volume = (TEST_VOLUMES[0] as { name: string }).name
  return { controller: 0, seq: 1, time: 1, volume, block: 0, data: randomBytes(TEST_BLOCK_SIZE) }
}
