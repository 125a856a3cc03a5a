/**
 * Snapshots of the secondary on the real PostgreSQL: an image that never
 * changes while groups overwrite every block, versions kept and freed
 * exactly as the rules say (rows counted), pending snapshots pinned at the
 * right group inside a batch, creation that does not grow with the volume,
 * a store seeded from a snapshot that continues where it was, snapshots
 * created and deleted while groups apply, and the errors.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBlockStore } from '../../applier/index.js'
import { silentLogger } from '../../lib/logger.js'
import { createPool, type Pool } from '../../lib/postgres.js'
import { createTestSchema, stackInfo } from '../kit/servers.js'
import {
  ALL_BLOCKS,
  SNAP_BLOCK_SIZE,
  SNAP_VOLUMES,
  createSnapshotRig,
  sameImages,
  type SnapshotRig,
} from '../kit/snapshotStore.js'

let pool: Pool
let dir: string
const cleanups: (() => Promise<void>)[] = []

beforeAll(async () => {
  pool = createPool({ url: stackInfo().databaseUrl, logger: silentLogger, max: 6 })
  dir = await mkdtemp(join(tmpdir(), 'xrc-snap-'))
})

afterAll(async () => {
  for (const c of cleanups.reverse()) await c()
  await pool.end()
  await rm(dir, { recursive: true, force: true })
})

async function rig(): Promise<SnapshotRig> {
  const r = await createSnapshotRig(pool)
  cleanups.push(r.drop)
  return r
}

/** `n` groups each writing every block, applied `perBatch` to a transaction. */
async function overwriteAll(r: SnapshotRig, n: number, perBatch = 10): Promise<void> {
  for (let i = 0; i < n; i += perBatch)
    await r.apply(Array.from({ length: Math.min(perBatch, n - i) }, () => r.group(ALL_BLOCKS)))
}

describe('snapshot images', () => {
  it('stays byte-identical while hundreds of groups overwrite every block, keeping one version per block', async () => {
    const r = await rig()
    await r.apply([r.group(ALL_BLOCKS.slice(0, 20)), r.group(ALL_BLOCKS.slice(10, 40))])
    const snap = await r.snapshots.create({ name: 'before' })
    expect(snap).toMatchObject({ name: 'before', state: 'active', groupSeq: 2, versionsHeld: 0 })
    const before = await r.store.readImages()
    expect(sameImages(before.images, r.modelImages(2))).toBe(true)
    await overwriteAll(r, 300)
    const read = await r.snapshots.readImages('before')
    expect(read.asOf).toEqual({ groupSeq: 2, groupTime: snap.groupTime, journalOffset: 2 })
    expect(sameImages(read.images, before.images)).toBe(true)
    // the 40 blocks that had a row at group 2 were kept once each; nothing of the 300 groups after
    expect(await r.versions()).toBe(40)
    const live = await r.store.readImages()
    expect(sameImages(live.images, r.modelImages(302))).toBe(true)
    const file = join(dir, 'before-va.img')
    const exported = await r.snapshots.export('before', 'va', file)
    expect(exported).toMatchObject({ volume: 'va', bytes: 32 * SNAP_BLOCK_SIZE, storedBlocks: 32 })
    expect((await readFile(file)).equals(before.images.get('va') as Buffer)).toBe(true)
    const [listed] = await r.snapshots.list()
    expect(listed).toMatchObject({ name: 'before', versionsHeld: 40, versionsOwned: 40 })
    expect(listed?.bytesHeld).toBeGreaterThanOrEqual(40 * SNAP_BLOCK_SIZE)
  })

  it('diffs two snapshots, and a snapshot and the live image, by changed blocks per volume', async () => {
    const r = await rig()
    await r.apply([r.group(ALL_BLOCKS)])
    await r.snapshots.create({ name: 'a' })
    const at = (i: number): [string, number] => ALL_BLOCKS[i] as [string, number]
    const [va3, va4, va5, vb0] = [at(3), at(4), at(5), at(32)]
    const changes = r.group([va3, va5, vb0])
    const same = r.group([va4])
    const prior = await r.store.readBlock('va', 4)
    same.updates[0] = { ...(same.updates[0] as (typeof same.updates)[0]), data: Buffer.from(prior) }
    await r.apply([changes, same]) // va/4 rewritten with the same bytes: no change
    await r.snapshots.create({ name: 'b' })
    await r.apply([r.group([ALL_BLOCKS[31] as [string, number]])])
    const ab = await r.snapshots.diff('a', 'b')
    expect(ab.from.asOf?.groupSeq).toBe(1)
    expect(ab.to.asOf?.groupSeq).toBe(3)
    expect(ab.volumes).toEqual([
      {
        volume: 'va',
        changedBlocks: 2,
        ranges: [
          { first: 3, last: 3 },
          { first: 5, last: 5 },
        ],
      },
      { volume: 'vb', changedBlocks: 1, ranges: [{ first: 0, last: 0 }] },
    ])
    const bLive = await r.snapshots.diff('b', 'live')
    expect(bLive.to.asOf?.groupSeq).toBe(4)
    expect(bLive.volumes.map((v) => v.ranges)).toEqual([[{ first: 31, last: 31 }], []])
    expect((await r.snapshots.diff('live', 'live')).volumes.every((v) => v.changedBlocks === 0)).toBe(true)
  })
})

describe('deleting snapshots', () => {
  it('frees exactly the versions no other snapshot reads', async () => {
    const r = await rig()
    await r.apply([r.group(ALL_BLOCKS)]) // group 1: every block
    await r.snapshots.create({ name: 's1' }) // pins 1
    await r.apply([r.group(ALL_BLOCKS.slice(0, 10))]) // group 2: 10 versions of group 1, read by s1 only
    await r.snapshots.create({ name: 's2' }) // pins 2
    await r.apply([r.group(ALL_BLOCKS)]) // group 3: 10 rows of group 2 (s2 only) and 38 of group 1 (s1 and s2)
    expect(await r.versions()).toBe(58)
    const listed = new Map((await r.snapshots.list()).map((s) => [s.name, s]))
    expect(listed.get('s1')).toMatchObject({ versionsHeld: 48, versionsOwned: 10 })
    expect(listed.get('s2')).toMatchObject({ versionsHeld: 48, versionsOwned: 10 })

    const d2 = await r.snapshots.delete('s2')
    expect(d2).toMatchObject({ name: 's2', versionsFreed: 10 })
    expect(d2.bytesFreed).toBeGreaterThanOrEqual(10 * SNAP_BLOCK_SIZE)
    expect(await r.versions()).toBe(48)
    expect(await r.unneededVersions()).toBe(0)
    expect(sameImages((await r.snapshots.readImages('s1')).images, r.modelImages(1))).toBe(true)
    expect(await r.snapshots.delete('s1')).toMatchObject({ versionsFreed: 48 })
    expect(await r.versions()).toBe(0)
    // nothing pins: the next group copies nothing
    await r.apply([r.group(ALL_BLOCKS)])
    expect(await r.versions()).toBe(0)
    await expect(r.snapshots.delete('s1')).rejects.toMatchObject({
      code: 'XRC_NOT_FOUND',
      message: expect.stringMatching(/no snapshot "s1"/),
    })
  })

  it('retires by count and age, oldest first, freeing their versions', async () => {
    const r = await rig()
    for (const name of ['r1', 'r2', 'r3']) {
      await r.apply([r.group(ALL_BLOCKS)])
      await r.snapshots.create({ name })
    }
    await r.apply([r.group(ALL_BLOCKS)])
    expect(await r.versions()).toBe(3 * 48)
    const byCount = await r.snapshots.retire({ maxCount: 2 })
    expect(byCount.map((d) => [d.name, d.versionsFreed])).toEqual([['r1', 48]])
    const r3 = await r.snapshots.get('r3')
    const byAge = await r.snapshots.retire({ maxAgeMicros: 5 }, (r3.groupTime as number) + 5)
    expect(byAge.map((d) => d.name)).toEqual(['r2'])
    expect((await r.snapshots.list()).map((s) => s.name)).toEqual(['r3'])
    expect(await r.versions()).toBe(48)
    await expect(r.snapshots.retire({ maxCount: 0 })).rejects.toMatchObject({ code: 'XRC_USAGE' })
  })
})

describe('pending snapshots', () => {
  it('pins the target group and the newest group at or before a time, inside one batch', async () => {
    const r = await rig()
    await r.apply([r.group(ALL_BLOCKS)])
    const atGroup = await r.snapshots.create({ atGroup: 4 })
    expect(atGroup).toMatchObject({ name: 'at-group-4', state: 'pending', atGroup: 4, waitingFor: 'target' })
    const last = r.model.last
    const atTime = await r.snapshots.create({ name: 't', atTime: (last?.groupTime ?? 0) + 75 }) // between 7 and 8
    expect(atTime).toMatchObject({ state: 'pending', waitingFor: 'target' })
    const exact = await r.snapshots.create({ name: 'exact', atTime: (last?.groupTime ?? 0) + 30 }) // group 4's time
    expect(exact.state).toBe('pending')
    // groups 2..10 in one transaction, 10 ms apart, each writing a third of the blocks
    await r.apply(Array.from({ length: 9 }, (_, i) => r.group(ALL_BLOCKS.filter((_b, k) => k % 3 === i % 3))))
    const pins = new Map((await r.snapshots.list()).map((s) => [s.name, s.groupSeq]))
    expect(pins).toEqual(
      new Map([
        ['at-group-4', 4],
        ['exact', 4],
        ['t', 8],
      ]),
    )
    for (const [name, seq] of [
      ['at-group-4', 4],
      ['t', 8],
    ] as const)
      expect(sameImages((await r.snapshots.readImages(name)).images, r.modelImages(seq)), name).toBe(true)
    expect(await r.unneededVersions()).toBe(0)
  })

  it('pins a target group that ends a batch with that batch, and one applied group at a time', async () => {
    const r = await rig()
    await r.apply([r.group(ALL_BLOCKS)])
    await r.snapshots.create({ name: 'p3', atGroup: 3 })
    await r.snapshots.create({ name: 'p4', atGroup: 4 })
    await r.apply([r.group(ALL_BLOCKS), r.group(ALL_BLOCKS)]) // 2, 3: p3 pins 3 at the end of the batch
    expect(await r.snapshots.get('p3')).toMatchObject({ state: 'active', groupSeq: 3 })
    expect(await r.snapshots.get('p4')).toMatchObject({ state: 'pending' })
    expect(await r.versions()).toBe(0)
    await r.apply([r.group(ALL_BLOCKS)]) // group 4 alone: copy on write for p3, then p4 pins 4
    expect(await r.snapshots.get('p4')).toMatchObject({ state: 'active', groupSeq: 4 })
    expect(await r.versions()).toBe(48)
    expect(sameImages((await r.snapshots.readImages('p3')).images, r.modelImages(3))).toBe(true)
  })

  it('refuses targets already passed, bad names, a taken name, and images of pending snapshots', async () => {
    const r = await rig()
    await expect(r.snapshots.create()).rejects.toMatchObject({
      code: 'XRC_USAGE',
      message: expect.stringMatching(/applied no group yet/),
    })
    await r.apply([r.group(ALL_BLOCKS), r.group(ALL_BLOCKS)])
    await expect(r.snapshots.create({ atGroup: 2 })).rejects.toMatchObject({
      code: 'XRC_USAGE',
      message: expect.stringMatching(/at group 2: .* has already applied group 2/),
    })
    await expect(r.snapshots.create({ atTime: r.model.last?.groupTime })).rejects.toMatchObject({
      code: 'XRC_USAGE',
    })
    await expect(r.snapshots.create({ name: 'a b' })).rejects.toMatchObject({ code: 'XRC_USAGE' })
    await r.snapshots.create({ name: 'x' })
    await expect(r.snapshots.create({ name: 'x' })).rejects.toMatchObject({
      code: 'XRC_CONFLICT',
      message: expect.stringMatching(/named "x" already exists/),
    })
    await r.snapshots.create({ name: 'later', atGroup: 9 })
    await expect(r.snapshots.readImages('later')).rejects.toMatchObject({
      code: 'XRC_CONFLICT',
      message: expect.stringMatching(/"later" is pending \(target group 9\)/),
    })
    await expect(r.snapshots.export('nope', 'va', join(dir, 'nope'))).rejects.toMatchObject({
      code: 'XRC_NOT_FOUND',
    })
    await expect(r.snapshots.diff('x', 'nope')).rejects.toMatchObject({ code: 'XRC_NOT_FOUND' })
    // the refused ones left nothing behind
    expect((await r.snapshots.list()).map((s) => s.name).sort()).toEqual(['later', 'x'])
  })
})

it('creates a snapshot in about the same time on a large volume as on a small one', async () => {
  const big = await createTestSchema('xrc_snap_big')
  cleanups.push(big.drop)
  const blocks = 16_384
  const store = createBlockStore({
    pool,
    schema: big.schema,
    session: 'big',
    blockSize: 4096,
    volumes: [{ name: 'big', blocks }],
    logger: silentLogger,
  })
  await store.init()
  // 64 MiB of rows written straight into the table (applying them through groups would only be slower)
  await pool.query(
    `INSERT INTO "${big.schema}".blocks (volume_id, block, group_seq, group_time, data)
     SELECT v.id, b, 1, 1000, decode(repeat(md5(b::text), 128), 'hex') FROM "${big.schema}".volumes v,
       generate_series(0, $1 - 1) AS b`,
    [blocks],
  )
  await pool.query(
    `UPDATE "${big.schema}".control SET group_seq = 1, group_time = 1000, journal_offset = 1 WHERE session = 'big'`,
  )
  const small = await rig()
  await small.apply([small.group(ALL_BLOCKS)])
  const { createSnapshots } = await import('../../applier/index.js')
  const bigSnapshots = createSnapshots({ pool, schema: big.schema, session: 'big' })
  const timed = async (create: () => Promise<unknown>): Promise<number> => {
    const t0 = performance.now()
    await create()
    return performance.now() - t0
  }
  // alternated, so a busy moment of the machine falls on both sides alike
  const smallTimes: number[] = []
  const bigTimes: number[] = []
  for (let i = 0; i < 7; i++) {
    smallTimes.push(await timed(() => small.snapshots.create({ name: `c${i}` })))
    bigTimes.push(await timed(() => bigSnapshots.create({ name: `c${i}` })))
  }
  const median = (ms: number[]): number => ms.sort((x, y) => x - y)[3] as number
  const [smallMs, bigMs] = [median(smallTimes), median(bigTimes)]
  expect(bigMs).toBeLessThan(100)
  expect(bigMs).toBeLessThan(smallMs * 4 + 10)
  const versions = await pool.query<{ n: bigint }>(`SELECT count(*) AS n FROM "${big.schema}".snapshot_versions`)
  expect(Number(versions.rows[0]?.n)).toBe(0)
})

it('seeds an empty store from a snapshot that then applies on to the same image as from scratch', async () => {
  const r = await rig()
  const groups = Array.from({ length: 20 }, (_, i) => r.group(ALL_BLOCKS.filter((_b, k) => (k + i) % 4 === 0)))
  await r.apply(groups.slice(0, 10))
  await r.snapshots.create({ name: 'seed' })
  await r.apply(groups.slice(10))
  const target = await createTestSchema('xrc_snap_copy')
  cleanups.push(target.drop)
  const copied = await r.snapshots.copyInto('seed', target.schema)
  expect(copied).toMatchObject({ name: 'seed', schema: target.schema, asOf: { groupSeq: 10, journalOffset: 10 } })
  const seeded = createBlockStore({
    pool,
    schema: target.schema,
    session: r.session,
    blockSize: SNAP_BLOCK_SIZE,
    volumes: SNAP_VOLUMES,
    logger: silentLogger,
  })
  await seeded.init()
  expect(await seeded.lastApplied()).toEqual(copied.asOf)
  expect(sameImages((await seeded.readImages()).images, r.modelImages(10))).toBe(true)
  expect(await seeded.applyGroup(groups[9] as (typeof groups)[0], 10)).toBe('duplicate')
  const outcomes = await seeded.applyGroups(groups.slice(10).map((group) => ({ group, journalOffset: group.groupSeq })))
  expect(outcomes.every((o) => o === 'applied')).toBe(true)
  const fromSeed = await seeded.readImages()
  expect(fromSeed.asOf?.groupSeq).toBe(20)
  expect(sameImages(fromSeed.images, (await r.store.readImages()).images)).toBe(true)
  await expect(r.snapshots.copyInto('seed', target.schema)).rejects.toMatchObject({
    code: 'XRC_USAGE',
    message: expect.stringMatching(/already holds group 20/),
  })
  await expect(r.snapshots.copyInto('seed', r.schema)).rejects.toMatchObject({ code: 'XRC_USAGE' })
})

it('creates and deletes snapshots while groups apply: every one whole, nothing leaked', async () => {
  const r = await rig()
  await r.apply([r.group(ALL_BLOCKS)])
  let applying = true
  const applier = (async () => {
    for (let i = 0; i < 60; i++)
      await r.apply([r.group(ALL_BLOCKS.filter(() => Math.random() < 0.5)), r.group(ALL_BLOCKS.slice(0, 8))])
    applying = false
  })()
  const made: string[] = []
  let n = 0
  while (applying) {
    const name = `c${++n}`
    await r.snapshots.create({ name })
    made.push(name)
    if (n % 3 === 0) await r.snapshots.delete(made.splice(Math.floor(Math.random() * made.length), 1)[0] as string)
  }
  await applier
  expect(n).toBeGreaterThan(3)
  for (const s of await r.snapshots.list()) {
    const read = await r.snapshots.readImages(s.name)
    expect(sameImages(read.images, r.modelImages(s.groupSeq as number)), s.name).toBe(true)
  }
  expect((await r.snapshots.list()).map((s) => s.name).sort()).toEqual([...made].sort())
  expect(await r.unneededVersions()).toBe(0)
  const summary = await pool.query<{ pin: string | null; pending: number; newest: string | null }>(
    `SELECT snapshot_pin_time::text AS pin, snapshots_pending AS pending,
       (SELECT max(group_time)::text FROM "${r.schema}".snapshots WHERE state = 'active') AS newest
     FROM "${r.schema}".control`,
  )
  expect(summary.rows[0]).toEqual({ pin: summary.rows[0]?.newest, pending: 0, newest: summary.rows[0]?.newest })
})
