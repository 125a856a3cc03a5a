/**
 * The secondary block store on the real PostgreSQL: idempotent DDL, the
 * order rule and validation inside applyGroup (nothing written when a group
 * is refused), groups of realistic size, and consistent streaming export.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBlockStore, type BlockStore } from '../../applier/index.js'
import { silentLogger } from '../../lib/logger.js'
import { createPool, type Pool } from '../../lib/postgres.js'
import type { ConsistencyGroup, JournalUpdate } from '../../schemas/journal.js'
import { modelImage, randomGroups, TEST_BLOCK_SIZE, TEST_VOLUMES } from '../kit/journal.js'
import { createTestSchema, stackInfo } from '../kit/servers.js'
import { uniqueName } from '../kit/names.js'

let pool: Pool
let dir: string
const cleanups: (() => Promise<void>)[] = []

beforeAll(async () => {
  pool = createPool({ url: stackInfo().databaseUrl, logger: silentLogger, max: 8 })
  dir = await mkdtemp(join(tmpdir(), 'xrc-export-'))
})

afterAll(async () => {
  for (const c of cleanups.reverse()) await c()
  await pool.end()
  await rm(dir, { recursive: true, force: true })
})

const SESSION = 'store_test'

async function newStore(
  volumes: readonly { name: string; blocks: number }[] = TEST_VOLUMES,
  session = SESSION,
): Promise<{ store: BlockStore; schema: string }> {
  const pg = await createTestSchema('xrc_store')
  cleanups.push(pg.drop)
  const store = createBlockStore({
    pool,
    schema: pg.schema,
    session,
    blockSize: TEST_BLOCK_SIZE,
    volumes,
    logger: silentLogger,
  })
  await store.init()
  return { store, schema: pg.schema }
}

function update(volume: string, block: number, size = TEST_BLOCK_SIZE): JournalUpdate {
  return { controller: 0, seq: 1, time: 1, volume, block, data: randomBytes(size) }
}

async function historyCount(schema: string): Promise<number> {
  const res = await pool.query<{ n: bigint }>(`SELECT count(*) AS n FROM "${schema}".applied_groups`)
  return Number(res.rows[0]?.n)
}

describe('block store', () => {
  it('init is idempotent, concurrent-safe, and a new store reads as zeros', async () => {
    const { store, schema } = await newStore()
    await Promise.all([store.init(), store.init()])
    expect(await store.lastApplied()).toBeUndefined()
    expect((await store.readBlock('va', 63)).equals(Buffer.alloc(TEST_BLOCK_SIZE))).toBe(true)
    expect((await store.readImage('vb')).image.equals(Buffer.alloc(48 * TEST_BLOCK_SIZE))).toBe(true)
    expect((await store.volumes()).map((v) => [v.name, v.blocks])).toEqual([
      ['va', 64],
      ['vb', 48],
    ])
    const col = await pool.query<{ storage: string; compression: string }>(
      `SELECT attstorage AS storage, attcompression AS compression FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'data'`,
      [`"${schema}".block_rows`],
    )
    // lz4 on this server (see applier/store/blockStoreDdl.ts), else EXTERNAL
    expect([
      ['x', 'l'],
      ['e', '\u0000'],
      ['e', ''],
    ]).toContainEqual([col.rows[0]?.storage, col.rows[0]?.compression])
  })

  it('refuses a config that does not match the stored secondary', async () => {
    const { schema } = await newStore()
    const resized = createBlockStore({
      pool,
      schema,
      session: SESSION,
      blockSize: TEST_BLOCK_SIZE,
      volumes: [{ name: 'va', blocks: 65 }],
      logger: silentLogger,
    })
    await expect(resized.init()).rejects.toMatchObject({
      code: 'XRC_CONFIG_INVALID',
      message: expect.stringMatching(/volume "va" is 64 blocks/),
    })
    const other = createBlockStore({
      pool,
      schema,
      session: 'another',
      blockSize: TEST_BLOCK_SIZE,
      volumes: TEST_VOLUMES,
      logger: silentLogger,
    })
    await expect(other.init()).rejects.toMatchObject({
      code: 'XRC_CONFIG_INVALID',
      message: expect.stringMatching(/holds the secondary of session "store_test"/),
    })
  })

  it('applies in order; skips duplicates; refuses gaps, stale times and a changed duplicate', async () => {
    const { store, schema } = await newStore()
    const groups = randomGroups(SESSION, 4)
    const [g1, g2, g3, g4] = groups as [ConsistencyGroup, ConsistencyGroup, ConsistencyGroup, ConsistencyGroup]
    await expect(store.applyGroup(g2, 3)).rejects.toMatchObject({
      code: 'XRC_GROUP_OUT_OF_ORDER',
      message: expect.stringMatching(/cannot start an empty secondary/),
    })
    expect(await store.applyGroup(g1, 1)).toBe('applied')
    expect(await store.applyGroup(g2, 3)).toBe('applied')
    expect(await store.applyGroup(g1, 1)).toBe('duplicate')
    expect(await store.applyGroup(g2, 9)).toBe('duplicate')
    await expect(store.applyGroup({ ...g2, groupTime: g2.groupTime + 1 }, 3)).rejects.toMatchObject({
      code: 'XRC_GROUP_OUT_OF_ORDER',
      message: expect.stringMatching(/does not match this secondary/),
    })
    await expect(store.applyGroup(g4, 7)).rejects.toMatchObject({
      code: 'XRC_GROUP_OUT_OF_ORDER',
      message: expect.stringMatching(/groups 3\.\.3 are missing/),
    })
    await expect(store.applyGroup({ ...g3, groupTime: g2.groupTime }, 5)).rejects.toMatchObject({
      code: 'XRC_GROUP_OUT_OF_ORDER',
      message: expect.stringMatching(/not after time/),
    })
    await expect(store.applyGroup(g3, 3)).rejects.toMatchObject({
      code: 'XRC_GROUP_OUT_OF_ORDER',
      message: expect.stringMatching(/journal offset 3, not after offset 3/),
    })
    expect(await store.lastApplied()).toEqual({ groupSeq: 2, groupTime: g2.groupTime, journalOffset: 3 })
    expect(await historyCount(schema)).toBe(2)
    for (const v of TEST_VOLUMES)
      expect((await store.readImage(v.name)).image.equals(modelImage(groups, v.name, 2))).toBe(true)
  })

  it.each([
    ['data shorter than a block', update('va', 1, TEST_BLOCK_SIZE - 1), /4095 bytes, not one block of 4096/],
    ['data longer than a block', update('va', 1, TEST_BLOCK_SIZE * 2), /8192 bytes/],
    ['an unknown volume', update('nope', 0), /unknown volume "nope"/],
    ['a block out of range', update('vb', 48), /block 48 of volume "vb"/],
  ])('refuses %s with XRC_INVALID_RECORD and writes nothing of the group', async (_name, bad, message) => {
    const { store, schema } = await newStore()
    const [g1, g2] = randomGroups(SESSION, 2) as [ConsistencyGroup, ConsistencyGroup]
    await store.applyGroup(g1, 0)
    const good = update('va', 0)
    await expect(store.applyGroup({ ...g2, updates: [good, bad] }, 2)).rejects.toMatchObject({
      code: 'XRC_INVALID_RECORD',
      message: expect.stringMatching(message),
    })
    expect((await store.lastApplied())?.groupSeq).toBe(1)
    expect(await historyCount(schema)).toBe(1)
    expect((await store.readBlock('va', 0)).equals(good.data)).toBe(false)
  })

  it('clears the code of each segment a batch writes and bumps its generation, in the commit that writes it', async () => {
    const pg = await createTestSchema('xrc_store')
    cleanups.push(pg.drop)
    const store = createBlockStore({
      pool,
      schema: pg.schema,
      session: SESSION,
      blockSize: TEST_BLOCK_SIZE,
      volumes: TEST_VOLUMES,
      segmentBlocks: 4,
      logger: silentLogger,
    })
    await store.init()
    const codes = async (): Promise<string[]> =>
      (
        await pool.query<{ c: string }>(
          `SELECT v.name || '/' || c.segment || ' g' || c.generation || (CASE WHEN c.valid THEN ' valid' ELSE '' END) AS c
           FROM "${pg.schema}".segment_codes c JOIN "${pg.schema}".volumes v ON v.id = c.volume_id ORDER BY 1`,
        )
      ).rows.map((r) => r.c)
    const group = (seq: number, blocks: [string, number][]): ConsistencyGroup => ({
      session: SESSION,
      groupSeq: seq,
      groupTime: seq * 10,
      updates: blocks.map(([volume, block]) => ({ ...update(volume, block), seq, time: seq * 10 })),
      controllers: [{ controller: 0, lastSeq: seq, lastTime: seq * 10, resumeOffset: 0 }],
    })
    expect(
      await store.applyGroup(
        group(1, [
          ['va', 0],
          ['va', 5],
          ['vb', 2],
        ]),
        0,
      ),
    ).toBe('applied')
    expect(await codes()).toEqual(['va/0 g1', 'va/1 g1', 'vb/0 g1'])
    await pool.query(`UPDATE "${pg.schema}".segment_codes SET valid = true, code = sha256('x'), computed_at = now()`) // as the recomputer would
    // a batch of two groups: va segment 0 twice, va segment 2 once; each written segment bumped once
    const batch = [
      group(2, [['va', 1]]),
      group(3, [
        ['va', 2],
        ['va', 9],
      ]),
    ]
    expect(await store.applyGroups(batch.map((g, i) => ({ group: g, journalOffset: 1 + i })))).toEqual([
      'applied',
      'applied',
    ])
    expect(await codes()).toEqual(['va/0 g2', 'va/1 g1 valid', 'va/2 g1', 'vb/0 g1 valid'])
    // a refused group changes no code
    await expect(
      store.applyGroup(
        group(4, [
          ['va', 13],
          ['nope', 0],
        ]),
        3,
      ),
    ).rejects.toMatchObject({
      code: 'XRC_INVALID_RECORD',
    })
    expect(await codes()).toEqual(['va/0 g2', 'va/1 g1 valid', 'va/2 g1', 'vb/0 g1 valid'])
  })

  it('writes a batch of groups that write the same blocks as their last writers, each row with its group', async () => {
    const { store, schema } = await newStore()
    const groups = randomGroups(SESSION, 12, { minUpdates: 8, maxUpdates: 20 }) // over 112 blocks: they overlap
    const { store: byOne } = await newStore()
    for (const [i, g] of groups.entries()) expect(await byOne.applyGroup(g, i)).toBe('applied')
    const batches = [groups.slice(0, 1), groups.slice(1, 6), groups.slice(6)]
    let offset = 0
    for (const batch of batches) {
      expect(await store.applyGroups(batch.map((group, i) => ({ group, journalOffset: offset + i })))).toEqual(
        batch.map(() => 'applied'),
      )
      offset += batch.length
    }
    for (const v of TEST_VOLUMES) {
      const image = (await store.readImage(v.name)).image
      expect(image.equals(modelImage(groups, v.name, groups.length)), v.name).toBe(true)
      expect(image.equals((await byOne.readImage(v.name)).image), v.name).toBe(true)
    }
    // each block's row carries the seq and time of the last group that wrote it, and is there once
    const lastWriter = new Map<string, ConsistencyGroup>()
    for (const g of groups) for (const u of g.updates) lastWriter.set(`${u.volume}/${u.block}`, g)
    const rows = await pool.query<{ k: string; seq: bigint; time: bigint }>(
      `SELECT v.name || '/' || b.block AS k, b.group_seq AS seq, b.group_time AS time
       FROM "${schema}".blocks b JOIN "${schema}".volumes v ON v.id = b.volume_id`,
    )
    expect(rows.rows).toHaveLength(lastWriter.size)
    expect(groups.reduce((n, g) => n + g.updates.length, 0)).toBeGreaterThan(lastWriter.size + 10)
    for (const r of rows.rows) {
      expect(Number(r.seq), r.k).toBe(lastWriter.get(r.k)?.groupSeq)
      expect(Number(r.time), r.k).toBe(lastWriter.get(r.k)?.groupTime)
    }
    expect(await historyCount(schema)).toBe(groups.length)
  })

  it('applies a group of 2000 blocks of 4 KiB whole, and overwrites it', async () => {
    const { store } = await newStore([{ name: 'big', blocks: 8192 }])
    const write = (seq: number, first: number): ConsistencyGroup => ({
      session: SESSION,
      groupSeq: seq,
      groupTime: 1_700_000_000_000_000 + seq,
      updates: Array.from({ length: 2000 }, (_, i) => update('big', first + i * 3)),
      controllers: [],
    })
    const g1 = write(1, 0)
    const g2 = write(2, 1500) // overlaps g1's upper blocks
    await store.applyGroup(g1, 0)
    await store.applyGroup(g2, 2)
    const { image, asOf } = await store.readImage('big')
    const model = Buffer.alloc(8192 * TEST_BLOCK_SIZE)
    for (const g of [g1, g2]) for (const u of g.updates) u.data.copy(model, u.block * TEST_BLOCK_SIZE)
    expect(image.equals(model)).toBe(true)
    expect(asOf?.groupSeq).toBe(2)
  })

  it('exports a byte-identical image file; a never-written volume exports as zeros', async () => {
    const { store } = await newStore()
    const groups = randomGroups(SESSION, 10, { maxUpdates: 30 })
    for (const [i, g] of groups.entries()) await store.applyGroup(g, i * 2)
    const path = join(dir, `${uniqueName('va')}.img`)
    const result = await store.exportVolume('va', path)
    const file = await readFile(path)
    expect(file.equals(modelImage(groups, 'va'))).toBe(true)
    expect(file.equals((await store.readImage('va')).image)).toBe(true)
    expect(result).toMatchObject({ volume: 'va', bytes: 64 * TEST_BLOCK_SIZE, asOf: { groupSeq: 10 } })

    const empty = await newStore(TEST_VOLUMES, SESSION)
    const emptyPath = join(dir, `${uniqueName('vb')}.img`)
    expect((await empty.store.exportVolume('vb', emptyPath)).asOf).toBeUndefined()
    expect((await readFile(emptyPath)).equals(Buffer.alloc(48 * TEST_BLOCK_SIZE))).toBe(true)
    await expect(store.exportVolume('nope', join(dir, 'nope.img'))).rejects.toMatchObject({ code: 'XRC_NOT_FOUND' })
    await expect(stat(join(dir, 'nope.img'))).rejects.toThrow()
  })

  it('exports and reads consistently while groups are being applied: each image is the one as of the group it names', async () => {
    const { store } = await newStore()
    const groups = randomGroups(SESSION, 15, { maxUpdates: 40 })
    for (const [i, g] of groups.entries()) {
      // each export runs alongside the apply of the next group: it sees that group whole or not at all
      const path = join(dir, `${uniqueName('live')}.img`)
      const [exported, , read] = await Promise.all([
        store.exportVolume('va', path),
        store.applyGroup(g, i),
        store.readImages(),
      ])
      const asOf = exported.asOf?.groupSeq ?? 0
      expect([i, i + 1]).toContain(asOf)
      expect((await readFile(path)).equals(modelImage(groups, 'va', asOf)), `export as of group ${asOf}`).toBe(true)
      // all volumes in one read are as of one group
      const readAsOf = read.asOf?.groupSeq ?? 0
      expect([i, i + 1]).toContain(readAsOf)
      for (const v of TEST_VOLUMES)
        expect(
          read.images.get(v.name)?.equals(modelImage(groups, v.name, readAsOf)),
          `${v.name} as of group ${readAsOf}`,
        ).toBe(true)
    }
  })
})
