/**
 * The secondary's side of a resync against the real PostgreSQL, with hand-
 * made groups that carry the primary's resync window events (as the mover
 * carries them from the controllers' streams, schemas/resyncWindow.ts): the
 * group that carries a BEGIN and the groups after it are inconsistent, the
 * versions they overwrite are kept once each, a new epoch never narrows an
 * unfinished window, the group that carries the END (or a later one) makes
 * the image consistent again and drops the versions, and a rollback
 * restores the last consistent image exactly (blocks that had no row
 * removed), after which the store refuses groups.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createBlockStore, type BlockStore } from '../../applier/index.js'
import { storeTables } from '../../applier/index.js'
import { rollbackSecondary } from '../../applier/index.js'
import { isXrcError } from '../../lib/errors.js'
import { silentLogger } from '../../lib/logger.js'
import { createPool, type Pool } from '../../lib/postgres.js'
import type { ConsistencyGroup, JournalUpdate, JournalWindow } from '../../schemas/journal.js'
import { TEST_BLOCK_SIZE, TEST_VOLUMES } from '../kit/journal.js'
import { createTestSchema, stackInfo } from '../kit/servers.js'

let pool: Pool
let store: BlockStore
let drop: () => Promise<void>
let schema: string
const session = 'image_test'

beforeAll(async () => {
  const s = await createTestSchema('xrc_image')
  schema = s.schema
  drop = s.drop
  pool = createPool({ url: stackInfo().databaseUrl, logger: silentLogger, max: 2 })
  store = createBlockStore({ pool, schema, session, blockSize: TEST_BLOCK_SIZE, volumes: TEST_VOLUMES })
  await store.init()
})

afterAll(async () => {
  await pool?.end()
  await drop?.()
})

/** A BEGIN of controller 0 at `time` (after S), as a group carries it. */
function begin(epoch: number, consistentUntil: number, time: number, reason = 'operator'): JournalWindow {
  return { controller: 0, time, event: 'BEGIN', epoch, consistentUntil, blocks: 3, reason }
}
function end(epoch: number, time: number): JournalWindow {
  return { controller: 0, time, event: 'END', epoch, consistentUntil: 0, blocks: 0, reason: '' }
}

let seq = 0
function group(time: number, blocks: [string, number][], windows: JournalWindow[] = []): ConsistencyGroup {
  seq++
  const updates: JournalUpdate[] = blocks.map(([volume, block], i) => {
    const d = randomBytes(TEST_BLOCK_SIZE)
    return { controller: 0, seq: seq * 100 + i, time, volume, block, data: d }
  })
  return {
    session,
    groupSeq: seq,
    groupTime: time,
    updates,
    controllers: [{ controller: 0, lastSeq: seq * 100, lastTime: time, resumeOffset: 0 }],
    ...(windows.length > 0 ? { windows } : {}),
  }
}
async function apply(time: number, blocks: [string, number][], windows: JournalWindow[] = []): Promise<void> {
  expect(await store.applyGroup(group(time, blocks, windows), seq)).toBe('applied')
}
async function versions(): Promise<number> {
  return Number((await pool.query<{ n: bigint }>(`SELECT count(*) AS n FROM "${schema}".block_versions`)).rows[0]?.n)
}

it('keeps the image as of the last consistent group while a resync is applied, and rolls back to it', async () => {
  await apply(100, [
    ['va', 1],
    ['va', 2],
  ])
  await apply(200, [['vb', 5]])
  expect(store.consistency()?.state).toBe('consistent')
  const consistent = await store.readImages()

  await apply(240, [['va', 3]]) // before S: still consistent
  const atS = await store.readImages()
  expect(store.consistency()?.state).toBe('consistent')
  // epoch 1 from S = 250, begun at 260: the group that carries the BEGIN is inside the window
  await apply(
    300,
    [
      ['va', 1],
      ['va', 9],
    ],
    [begin(1, 250, 260)],
  ) // va/9 had no row: its version is "none"
  expect(store.consistency()).toMatchObject({
    state: 'inconsistent',
    consistentGroup: { groupSeq: 3, groupTime: 240 },
    retainedVersions: 2,
  })
  await apply(310, [['va', 1]]) // saved once: still the version as of group 3
  expect(await versions()).toBe(2)

  // the epoch ends at 400 and a second one begins from a later S, both in the next group: the open window
  // must not shrink to the new S (the image was never consistent in between)
  await apply(450, [['vb', 5]], [end(1, 400), begin(2, 420, 430, 'kafka-unreachable')])
  expect(store.consistency()?.state).toBe('inconsistent')
  expect(await versions()).toBe(3)
  const rows = await pool.query<{ epoch: string; state: string; until: string }>(
    `SELECT epoch::text AS epoch, state, consistent_until::text AS until FROM "${schema}".resync`,
  )
  expect(rows.rows).toEqual([{ epoch: '2', state: 'running', until: '250' }])

  const rb = await rollbackSecondary(pool, storeTables(schema), schema, session)
  expect(rb).toEqual({ groupSeq: 3, groupTime: 240, blocksRestored: 3, groupsUndone: 3 })
  const back = await store.readImages()
  expect(back.asOf?.groupSeq).toBe(3)
  for (const [v, image] of atS.images) expect(back.images.get(v)?.equals(image), v).toBe(true)
  expect(back.images.get('va')?.equals(consistent.images.get('va') as Buffer)).toBe(false) // group 3 (va/3) is kept
  expect(await versions()).toBe(0)
  expect((await store.readConsistency()).state).toBe('rolled-back')
  // an applier reading the journal again from the rolled-back group's offset meets group 4 again: refused
  const next = { ...group(600, [['va', 4]]), groupSeq: 4 }
  const refused = await store.applyGroup(next, 100).catch((e: unknown) => e)
  expect(isXrcError(refused, 'XRC_ROLLED_BACK')).toBe(true)
  const again = await rollbackSecondary(pool, storeTables(schema), schema, session).catch((e: unknown) => e)
  expect(isXrcError(again, 'XRC_USAGE')).toBe(true)
})

it('becomes consistent again with the group that carries the end and drops the versions', async () => {
  const s = await createTestSchema('xrc_image2')
  const other = createBlockStore({ pool, schema: s.schema, session, blockSize: TEST_BLOCK_SIZE, volumes: TEST_VOLUMES })
  try {
    await other.init()
    const g = (n: number, t: number, block: number, windows: JournalWindow[] = []): ConsistencyGroup => ({
      session,
      groupSeq: n,
      groupTime: t,
      updates: [{ controller: 0, seq: n, time: t, volume: 'va', block, data: randomBytes(TEST_BLOCK_SIZE) }],
      controllers: [{ controller: 0, lastSeq: n, lastTime: t, resumeOffset: 0 }],
      ...(windows.length > 0 ? { windows } : {}),
    })
    const resyncRows = async (): Promise<{ epoch: string; state: string; until: string; end: string | null }[]> =>
      (
        await pool.query<{ epoch: string; state: string; until: string; end: string | null }>(
          `SELECT epoch::text AS epoch, state, consistent_until::text AS until, end_time::text AS end FROM "${s.schema}".resync`,
        )
      ).rows
    await other.applyGroup(g(1, 10, 0), 1)
    await other.applyGroup(g(2, 20, 0, [begin(1, 10, 15)]), 2)
    expect(other.consistency()).toMatchObject({ state: 'inconsistent', retainedVersions: 1 })
    await other.applyGroup(g(3, 29, 1), 3)
    expect(other.consistency()?.state).toBe('inconsistent')
    await other.applyGroup(g(4, 30, 2, [end(1, 30)]), 4)
    expect(other.consistency()).toEqual({ state: 'consistent', retainedVersions: 0 })
    expect((await resyncRows()).map((r) => r.state)).toEqual(['done'])
    // the same END delivered again (a primary that crashed before it saved its state ends the epoch twice): nothing changes
    await other.applyGroup(g(5, 32, 3, [end(1, 31)]), 5)
    expect(await resyncRows()).toEqual([{ epoch: '1', state: 'done', until: '10', end: '30' }])
    // a new epoch after a finished one starts its own window, from its own S
    await other.applyGroup(g(6, 50, 3, [begin(2, 40, 45)]), 6)
    expect(other.consistency()?.state).toBe('inconsistent')
    expect(await resyncRows()).toEqual([{ epoch: '2', state: 'running', until: '40', end: null }])
    // a resync with nothing to copy: its BEGIN and END in one group, which is consistent
    await other.applyGroup(g(7, 60, 4, [end(2, 55)]), 7)
    expect(other.consistency()?.state).toBe('consistent')
    await other.applyGroup(g(8, 80, 5, [begin(3, 65, 70), end(3, 75)]), 8)
    expect(other.consistency()).toEqual({ state: 'consistent', retainedVersions: 0 })
    expect(await resyncRows()).toEqual([{ epoch: '3', state: 'done', until: '65', end: '75' }])
  } finally {
    await s.drop()
  }
})

it('applies a batch of groups in one transaction as it applies them one by one, window events amid quiet groups', async () => {
  // the apply reads the resync state once while a batch is quiet and again at a group with window events
  const one = await createTestSchema('xrc_image_one')
  const batched = await createTestSchema('xrc_image_batch')
  const stores = [one, batched].map((s) =>
    createBlockStore({ pool, schema: s.schema, session, blockSize: TEST_BLOCK_SIZE, volumes: TEST_VOLUMES }),
  )
  const [byOne, byBatch] = stores as [BlockStore, BlockStore]
  try {
    for (const s of stores) await s.init()
    const g = (n: number, t: number, blocks: number[], windows: JournalWindow[] = []): ConsistencyGroup => ({
      session,
      groupSeq: n,
      groupTime: t,
      updates: blocks.map((block, i) => ({
        controller: 0,
        seq: n * 10 + i,
        time: t,
        volume: 'va',
        block,
        data: randomBytes(TEST_BLOCK_SIZE),
      })),
      controllers: [{ controller: 0, lastSeq: n * 10 + blocks.length - 1, lastTime: t, resumeOffset: 0 }],
      ...(windows.length > 0 ? { windows } : {}),
    })
    const groups = [
      g(1, 10, [0, 1]),
      g(2, 20, [2]),
      g(3, 30, [0, 3], [begin(1, 25, 28)]), // the window opens amid the batch: the groups from here are inconsistent
      g(4, 40, [4, 1]), // no events, after a group that had some: its versions are kept too
      g(5, 50, [5]),
      g(6, 60, [2, 6], [end(1, 55)]), // consistent again, the versions dropped
      g(7, 70, [7]),
      g(8, 80, [1], [begin(2, 75, 78)]),
      g(9, 90, [8, 9]),
    ]
    const state = async (s: BlockStore, schemaName: string) => ({
      images: [...(await s.readImages()).images].map(([v, b]) => [v, b.toString('hex')]),
      consistency: s.consistency(),
      versions: (
        await pool.query(`SELECT volume_id, block, group_seq FROM "${schemaName}".block_versions ORDER BY 1, 2`)
      ).rows,
      resync: (
        await pool.query(`SELECT epoch::text, state, consistent_until::text FROM "${schemaName}".resync ORDER BY 1`)
      ).rows,
    })
    // batches cut so that each ends with a window open, closed, or opened anew; after each, both stores agree
    const batches = [groups.slice(0, 4), groups.slice(4, 7), groups.slice(7)]
    const states: unknown[] = []
    let offset = 0
    for (const batch of batches) {
      for (const group of batch) expect(await byOne.applyGroup(group, offset + batch.indexOf(group))).toBe('applied')
      const outcomes = await byBatch.applyGroups(batch.map((group, i) => ({ group, journalOffset: offset + i })))
      expect(outcomes).toEqual(batch.map(() => 'applied'))
      offset += batch.length
      const expected = await state(byOne, one.schema)
      expect(await state(byBatch, batched.schema)).toEqual(expected)
      states.push(expected.consistency)
    }
    expect(states).toEqual([
      { state: 'inconsistent', consistentGroup: { groupSeq: 2, groupTime: 20 }, retainedVersions: 4 },
      { state: 'consistent', retainedVersions: 0 },
      { state: 'inconsistent', consistentGroup: { groupSeq: 7, groupTime: 70 }, retainedVersions: 3 },
    ])
  } finally {
    await one.drop()
    await batched.drop()
  }
})
