/**
 * The secondary's side of a resync against the real PostgreSQL, with hand-
 * made groups: the primary's resync rows (written through its own link)
 * make groups inside the window inconsistent, the versions they overwrite
 * are kept once each, a new epoch never narrows an unfinished window, a
 * group at or after the end makes the image consistent again and drops the
 * versions, and a rollback restores the last consistent image exactly
 * (blocks that had no row removed), after which the store refuses groups.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { createBlockStore, type BlockStore } from '../../applier/index.js'
import { storeTables } from '../../applier/index.js'
import { rollbackSecondary } from '../../applier/index.js'
import { isXrcError } from '../../lib/errors.js'
import { silentLogger } from '../../lib/logger.js'
import { createPool, type Pool } from '../../lib/postgres.js'
import { createSecondaryLink, type SecondaryLink } from '../../producer/index.js'
import type { ConsistencyGroup, JournalUpdate } from '../../schemas/journal.js'
import { TEST_BLOCK_SIZE, TEST_VOLUMES } from '../kit/journal.js'
import { createTestSchema, stackInfo } from '../kit/servers.js'

let pool: Pool
let store: BlockStore
let link: SecondaryLink
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
  link = createSecondaryLink({ url: stackInfo().databaseUrl, schema, session, logger: silentLogger })
})

afterAll(async () => {
  await link?.close()
  await pool?.end()
  await drop?.()
})

let seq = 0
function group(time: number, blocks: [string, number][]): ConsistencyGroup {
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
  }
}
async function apply(time: number, blocks: [string, number][]): Promise<void> {
  expect(await store.applyGroup(group(time, blocks), seq)).toBe('applied')
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

  // epoch 1 from S = 250: groups after it are inside the window
  await link.beginResync([{ controller: 0, epoch: 1, consistentUntil: 250, blocks: 3, reason: 'operator' }])
  await apply(240, [['va', 3]]) // before S: still consistent
  const atS = await store.readImages()
  expect(store.consistency()?.state).toBe('consistent')
  await apply(300, [
    ['va', 1],
    ['va', 9],
  ]) // va/9 had no row: its version is "none"
  expect(store.consistency()).toMatchObject({
    state: 'inconsistent',
    consistentGroup: { groupSeq: 3, groupTime: 240 },
    retainedVersions: 2,
  })
  await apply(310, [['va', 1]]) // saved once: still the version as of group 3
  expect(await versions()).toBe(2)

  // the epoch ends at 400, then a second epoch starts from a later S: the open window must not shrink to it
  await link.endResync([0], 1, 400)
  await link.beginResync([{ controller: 0, epoch: 2, consistentUntil: 500, blocks: 1, reason: 'kafka-unreachable' }])
  await apply(450, [['vb', 5]])
  expect(store.consistency()?.state).toBe('inconsistent')
  expect(await versions()).toBe(3)

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

it('becomes consistent again at the end time and drops the versions', async () => {
  const s = await createTestSchema('xrc_image2')
  const other = createBlockStore({ pool, schema: s.schema, session, blockSize: TEST_BLOCK_SIZE, volumes: TEST_VOLUMES })
  const otherLink = createSecondaryLink({
    url: stackInfo().databaseUrl,
    schema: s.schema,
    session,
    logger: silentLogger,
  })
  try {
    await other.init()
    const g = (n: number, t: number, block: number): ConsistencyGroup => ({
      session,
      groupSeq: n,
      groupTime: t,
      updates: [{ controller: 0, seq: n, time: t, volume: 'va', block, data: randomBytes(TEST_BLOCK_SIZE) }],
      controllers: [{ controller: 0, lastSeq: n, lastTime: t, resumeOffset: 0 }],
    })
    await other.applyGroup(g(1, 10, 0), 1)
    await otherLink.beginResync([{ controller: 0, epoch: 1, consistentUntil: 10, blocks: 1, reason: 'operator' }])
    await other.applyGroup(g(2, 20, 0), 2)
    expect(other.consistency()).toMatchObject({ state: 'inconsistent', retainedVersions: 1 })
    await otherLink.endResync([0], 1, 30)
    await other.applyGroup(g(3, 29, 1), 3)
    expect(other.consistency()?.state).toBe('inconsistent')
    await other.applyGroup(g(4, 30, 2), 4)
    expect(other.consistency()).toEqual({ state: 'consistent', retainedVersions: 0 })
    const rows = await pool.query<{ state: string }>(`SELECT state FROM "${s.schema}".resync`)
    expect(rows.rows.map((r) => r.state)).toEqual(['done'])
    // a new epoch after a finished one starts its own window
    await otherLink.beginResync([{ controller: 0, epoch: 2, consistentUntil: 40, blocks: 1, reason: 'operator' }])
    await other.applyGroup(g(5, 35, 3), 5)
    expect(other.consistency()?.state).toBe('consistent')
  } finally {
    await otherLink.close()
    await s.drop()
  }
})
