/**
 * Snapshots and resync on the real PostgreSQL: no snapshot is taken of an
 * inconsistent image (now: refused; at a target: it waits for the first
 * consistent group), and a rollback to the last consistent group keeps
 * every snapshot's image while dropping the versions the rolled-back
 * groups superseded (they are back in blocks). After a rebase on a new
 * journal, whose groups are numbered from 1 again, snapshots still read
 * their images: versions are ordered by group time, not seq.
 */
import { afterAll, beforeAll, expect, it } from 'vitest'
import { rebaseSecondary, rollbackSecondary, storeTables } from '../../applier/index.js'
import { silentLogger } from '../../lib/logger.js'
import { createPool, type Pool } from '../../lib/postgres.js'
import type { JournalWindow } from '../../schemas/journal.js'
import { stackInfo } from '../kit/servers.js'
import { ALL_BLOCKS, createSnapshotRig, sameImages, type SnapshotRig } from '../kit/snapshotStore.js'

let pool: Pool
const cleanups: (() => Promise<void>)[] = []

beforeAll(() => {
  pool = createPool({ url: stackInfo().databaseUrl, logger: silentLogger, max: 4 })
})
afterAll(async () => {
  for (const c of cleanups.reverse()) await c()
  await pool.end()
})

async function rig(): Promise<SnapshotRig> {
  const r = await createSnapshotRig(pool, 'xrc_snap_resync')
  cleanups.push(r.drop)
  return r
}

/** A BEGIN of controller 0 whose window opens just after the newest group (S = its time + 5). */
function beginAfterLast(r: SnapshotRig): JournalWindow {
  const t = r.model.last?.groupTime ?? 0
  return { controller: 0, time: t + 6, event: 'BEGIN', epoch: 1, consistentUntil: t + 5, blocks: 3, reason: 'test' }
}

it('refuses a snapshot now while inconsistent; a pending one pins the first consistent group', async () => {
  const r = await rig()
  await r.apply([r.group(ALL_BLOCKS), r.group(ALL_BLOCKS.slice(0, 12))])
  await r.snapshots.create({ name: 'pre' })
  await r.apply([r.group(ALL_BLOCKS.slice(5, 30), { windows: [beginAfterLast(r)] })], [false])
  expect(r.store.consistency()?.state).toBe('inconsistent')
  await expect(r.snapshots.create({ name: 'now' })).rejects.toMatchObject({
    code: 'XRC_CONFLICT',
    message: expect.stringMatching(/inconsistent \(a resync is being applied after group 2\)/),
  })
  const pending = await r.snapshots.create({ name: 'p', atGroup: 4 })
  expect(pending).toMatchObject({ state: 'pending', waitingFor: 'target' })
  await r.apply([r.group(ALL_BLOCKS.slice(20, 40))], [false]) // group 4: reached, but inconsistent
  expect(await r.snapshots.get('p')).toMatchObject({ state: 'pending', waitingFor: 'consistent-image' })
  const endTime = (r.model.last?.groupTime ?? 0) + 5
  const end: JournalWindow = {
    controller: 0,
    time: endTime,
    event: 'END',
    epoch: 1,
    consistentUntil: 0,
    blocks: 0,
    reason: '',
  }
  await r.apply([r.group(ALL_BLOCKS.slice(0, 3), { windows: [end] }), r.group(ALL_BLOCKS.slice(40))], [true, true])
  expect(r.store.consistency()?.state).toBe('consistent')
  expect(await r.snapshots.get('p')).toMatchObject({ state: 'active', groupSeq: 5 })
  expect(sameImages((await r.snapshots.readImages('p')).images, r.modelImages(5))).toBe(true)
  expect(sameImages((await r.snapshots.readImages('pre')).images, r.modelImages(2))).toBe(true)
  expect(await r.unneededVersions()).toBe(0)
})

it('keeps every snapshot through a rollback and drops the versions rolled-back groups superseded', async () => {
  const r = await rig()
  await r.apply([r.group(ALL_BLOCKS), r.group(ALL_BLOCKS.slice(0, 10))])
  await r.snapshots.create({ name: 'pre' }) // pins 2
  await r.apply([r.group(ALL_BLOCKS.slice(5, 15))])
  await r.snapshots.create({ name: 'mid' }) // pins 3: group 3 kept 10 versions for 'pre'
  const t3 = r.model.last?.groupTime ?? 0
  expect(await r.versions()).toBe(10)
  // groups 4 and 5 inside a resync window, overwriting every block
  await r.apply([r.group(ALL_BLOCKS, { windows: [beginAfterLast(r)] }), r.group(ALL_BLOCKS)], [false, false])
  expect(await r.versions()).toBe(10 + 48)
  const rb = await rollbackSecondary(pool, storeTables(r.schema), r.schema, r.session)
  expect(rb).toMatchObject({ groupSeq: 3, groupsUndone: 2 })
  const superseded = await pool.query<{ n: bigint }>(
    `SELECT count(*) AS n FROM "${r.schema}".snapshot_versions WHERE superseded_time > $1`,
    [t3],
  )
  expect(Number(superseded.rows[0]?.n)).toBe(0)
  expect(await r.versions()).toBe(10)
  expect(await r.unneededVersions()).toBe(0)
  expect(sameImages((await r.store.readImages()).images, r.modelImages(3))).toBe(true)
  expect(sameImages((await r.snapshots.readImages('pre')).images, r.modelImages(2))).toBe(true)
  expect(sameImages((await r.snapshots.readImages('mid')).images, r.modelImages(3))).toBe(true)
  expect((await r.snapshots.diff('mid', 'live')).volumes.every((v) => v.changedBlocks === 0)).toBe(true)
})

it('keeps a snapshot through a rebase on a new journal that numbers its groups from 1 again', async () => {
  const r = await rig()
  await r.apply([r.group(ALL_BLOCKS), ...Array.from({ length: 4 }, () => r.group(ALL_BLOCKS.slice(0, 20)))])
  await r.snapshots.create({ name: 'old' }) // pins group 5 of the old journal
  const image = r.modelImages(5)
  await rebaseSecondary(pool, storeTables(r.schema), r.schema, r.session, [0])
  await expect(r.snapshots.create({ name: 'now' })).rejects.toMatchObject({
    code: 'XRC_CONFLICT',
    message: expect.stringMatching(/after group 5/),
  })
  // groups 1 and 2 of the new journal (later times), each writing every block
  const renumbered = [1, 2].map((groupSeq) => ({
    group: { ...r.group(ALL_BLOCKS), groupSeq },
    journalOffset: groupSeq,
  }))
  expect(await r.store.applyGroups(renumbered)).toEqual(['applied', 'applied'])
  expect(sameImages((await r.snapshots.readImages('old')).images, image)).toBe(true)
  // the rows group 1 replaced were kept once each; those group 2 replaced (written after the pin) were not
  expect(await r.versions()).toBe(48)
  const diff = await r.snapshots.diff('old', 'live')
  expect(diff.volumes.map((v) => v.changedBlocks)).toEqual([32, 16])
})
