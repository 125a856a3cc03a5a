/**
 * The drill store (applier/drill) on the real PostgreSQL, without Kafka
 * (test/kit/servedStore.ts applies groups directly): a drill's writes land
 * in its overlay and read back over its snapshot's image while groups go
 * on applying, the secondary's blocks untouched; a second start and a
 * second server are refused naming the drill and its server; a stop waits
 * for the server to let go, then leaves nothing behind but a history row; a
 * drill at a past group takes a snapshot's pin and outlives that snapshot.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDrills, drillTables, type Drills, type DrillLease } from '../../applier/index.js'
import type { VolumeLayout } from '../../applier/store/groupValidation.js'
import { isXrcError } from '../../lib/errors.js'
import { silentLogger } from '../../lib/logger.js'
import { createPool, ident, type Pool } from '../../lib/postgres.js'
import { createServedStore, type ServedStore } from '../kit/servedStore.js'
import { stackInfo } from '../kit/servers.js'

const BS = 4096
const BLOCKS = 256
let pool: Pool
const cleanups: (() => Promise<unknown>)[] = []

beforeAll(() => {
  pool = createPool({ url: stackInfo().databaseUrl, logger: silentLogger, max: 10 })
})

afterAll(async () => {
  for (const c of cleanups.reverse()) await c()
  await pool.end()
})

async function storeWithDrills(): Promise<{ s: ServedStore; drills: Drills }> {
  const s = await createServedStore(pool, { volumes: 2, blocks: BLOCKS, blockSize: BS })
  cleanups.push(() => s.cleanup())
  const drills = createDrills({ pool, schema: s.config.applier.schema, session: s.config.session.name })
  return { s, drills }
}

/** A digest of the secondary's own block rows: what a drill must never change. */
async function blocksDigest(s: ServedStore): Promise<string> {
  const res = await pool.query<{ d: string | null }>(
    `SELECT md5(string_agg(volume_id || ':' || block || ':' || md5(data), ',' ORDER BY volume_id, block)) AS d
     FROM ${ident(s.config.applier.schema)}.blocks`,
  )
  return String(res.rows[0]?.d)
}

async function leftBehind(
  s: ServedStore,
  drills: Drills,
): Promise<{ overlay: number; drillSnapshots: number; keptVersions: number; servedBy: string | undefined }> {
  const t = drillTables(s.config.applier.schema)
  const schema = ident(s.config.applier.schema)
  const q = async (text: string): Promise<number> => Number((await pool.query<{ n: bigint }>(text)).rows[0]?.n)
  return {
    overlay: await q(`SELECT count(*) AS n FROM ${t.drillBlocks}`),
    drillSnapshots: await q(`SELECT count(*) AS n FROM ${schema}.snapshots WHERE name LIKE 'drill:%'`),
    // no snapshot is left, so no block version may be kept for one
    keptVersions: await q(`SELECT count(*) AS n FROM ${schema}.snapshot_versions`),
    servedBy: await drills.servedBy(),
  }
}

/** The first volume of the store (c0v0). */
function firstVolume(lease: DrillLease): VolumeLayout {
  const v = lease.image.layout.volumes[0]
  if (v?.name !== 'c0v0') throw new Error('c0v0 is not the first volume')
  return v
}

describe('a drill on the secondary', () => {
  it('reads its writes over the snapshot while groups apply, and never writes the secondary', async () => {
    const { s, drills } = await storeWithDrills()
    const g = await s.applyNext()
    const drill = await drills.start({ name: 'q4' })
    expect(drill).toMatchObject({ name: 'q4', snapshot: 'drill:q4', groupSeq: g, source: { kind: 'newest' } })
    const { images } = await s.snapshots.readImages('drill:q4')
    const lease = await drills.serve()
    cleanups.push(() => lease.release())
    const vol = lease.image.layout.volumes.find((v) => v.name === 'c0v1')
    if (vol === undefined) throw new Error('no volume c0v1')
    const model = Buffer.from(images.get('c0v1') as Buffer)
    const loop = s.keepApplying(() => s.allBlocks.filter((_, i) => i % 3 === 0))
    try {
      for (let i = 0; i < 40; i++) {
        const first = Math.floor(Math.random() * (BLOCKS - 8))
        const count = 1 + Math.floor(Math.random() * 8)
        const data = i % 5 === 0 ? Buffer.alloc(count * BS) : randomBytes(count * BS)
        await lease.image.write(vol, first, data)
        data.copy(model, first * BS)
      }
      expect((await lease.image.read(vol, 0, BLOCKS)).equals(model)).toBe(true)
      expect((await lease.image.read(vol, 10, 3)).equals(model.subarray(10 * BS, 13 * BS))).toBe(true)
      // the other volume was not written: it reads as the snapshot
      expect((await lease.image.read(firstVolume(lease), 0, BLOCKS)).equals(images.get('c0v0') as Buffer)).toBe(true)
      // the snapshot kept the image while groups rewrote a third of the blocks
      expect(loop.count()).toBeGreaterThan(0)
    } finally {
      await loop.stop()
    }
    // with no group applying, a drill's writes leave the secondary's block rows as they were
    const digest = await blocksDigest(s)
    await lease.image.write(vol, 0, randomBytes(4 * BS))
    await lease.image.write(vol, 100, Buffer.alloc(8 * BS))
    expect(await blocksDigest(s)).toBe(digest)
    // the drill's snapshot kept the versions the groups replaced (freed by the stop below)
    expect((await leftBehind(s, drills)).keptVersions).toBeGreaterThan(0)
    // it is the drill's: retention passes it by, and xrc snapshot delete refuses it
    expect(await s.snapshots.retire({ maxAgeMicros: 1 }, Date.now() * 1000 + 3_600_000_000)).toEqual([])
    await expect(s.snapshots.delete('drill:q4')).rejects.toMatchObject({
      code: 'XRC_USAGE',
      message: expect.stringMatching(/drill's own/),
    })
    expect((await s.snapshots.list()).map((x) => x.name)).toContain('drill:q4')
    const current = await drills.current()
    expect(current?.blocksWritten).toBeGreaterThan(0)
    expect(current?.servedBy).toMatch(/backend pid \d+/)
    await lease.release()
    const stopped = await drills.stop({ checked: 'booted the VM, ran fsck' })
    expect(stopped).toMatchObject({
      kind: 'stopped',
      drill: { name: 'q4', groupSeq: g, checked: 'booted the VM, ran fsck' },
    })
    if (stopped.kind !== 'stopped') throw new Error('not stopped')
    expect(stopped.drill.blocksWritten).toBe(current?.blocksWritten)
    expect(stopped.drill.bytesWritten).toBe(stopped.drill.blocksWritten * BS)
    expect(await leftBehind(s, drills)).toEqual({ overlay: 0, drillSnapshots: 0, keptVersions: 0, servedBy: undefined })
    expect(await drills.current()).toBeUndefined()
    expect((await drills.history()).map((h) => h.name)).toEqual(['q4'])
  })

  it('refuses a second start and a second server, naming them; a stop waits for the server, then ends it', async () => {
    const { s, drills } = await storeWithDrills()
    const g = await s.applyNext()
    await drills.start({ name: 'first' })
    const again = await drills.start({ name: 'second' }).catch((e: unknown) => e)
    expect(isXrcError(again, 'XRC_CONFLICT')).toBe(true)
    expect(String(again)).toMatch(new RegExp(`drill "first" already runs .*group ${g}`))
    const lease: DrillLease = await drills.serve()
    cleanups.push(() => lease.release())
    const second = await drills.serve().catch((e: unknown) => e)
    expect(String(second)).toMatch(/already served over NBD by .*backend pid \d+/)
    const steps: string[] = []
    const stopping = drills.stop({ onProgress: (p) => steps.push(p.step) })
    // the server sees the drill stopping, and its writes are refused from then on
    expect(await lease.ended).toEqual({ kind: 'stopping', why: expect.stringMatching(/being stopped/) as unknown })
    const late = await lease.image.write(firstVolume(lease), 0, randomBytes(BS)).catch((e: unknown) => e)
    expect(String(late)).toMatch(/drill "first" .* no longer running/)
    await lease.release()
    const result = await stopping
    expect(result.kind).toBe('stopped')
    expect(steps).toContain('discarding')
    expect(await leftBehind(s, drills)).toEqual({ overlay: 0, drillSnapshots: 0, keptVersions: 0, servedBy: undefined })
    // two stops at once: one stops it, the other finds it gone
    await drills.start({ name: 'twice' })
    const both = await Promise.all([drills.stop({ checked: 'a' }), drills.stop({ checked: 'b' })])
    expect(both.map((r) => r.kind).sort()).toEqual(['nothing', 'stopped'])
    expect((await drills.history()).filter((h) => h.name === 'twice')).toHaveLength(1)
    // stop twice: says there is none, and names the last
    expect(await drills.stop()).toMatchObject({ kind: 'nothing', last: { name: 'twice' } })
    const served = await drills.serve().catch((e: unknown) => e)
    expect(String(served)).toMatch(/no drill runs in session/)
  })

  it('names a server that does not let go, and discards nothing under it', async () => {
    const { s, drills } = await storeWithDrills()
    await s.applyNext()
    await drills.start({ name: 'stuck' })
    const lease = await drills.serve()
    cleanups.push(() => lease.release())
    await lease.image.write(firstVolume(lease), 3, randomBytes(BS))
    // a server that ignores the stop: its lease is never released within the bound
    const refused = await drills.stop({ serverTimeoutMs: 600 }).catch((e: unknown) => e)
    expect(String(refused)).toMatch(/drill "stuck": its NBD server \(.*backend pid \d+\) did not let go within 600 ms/)
    expect((await leftBehind(s, drills)).overlay).toBe(1)
    expect((await drills.current())?.phase).toBe('stopping')
    // starting another is refused while it is being stopped
    expect(String(await drills.start().catch((e: unknown) => e))).toMatch(/being stopped: run xrc drill stop/)
    await lease.release()
    expect(await drills.stop({ checked: 'second try' })).toMatchObject({
      kind: 'stopped',
      drill: { checked: 'second try', blocksWritten: 1 },
    })
    expect(await leftBehind(s, drills)).toEqual({ overlay: 0, drillSnapshots: 0, keptVersions: 0, servedBy: undefined })
  })

  it('runs at a past group through a snapshot, keeps that image when the snapshot goes, refuses groups not kept', async () => {
    const { s, drills } = await storeWithDrills()
    await s.applyNext()
    const g2 = await s.applyNext(s.allBlocks.slice(0, 50))
    await s.snapshots.create({ name: 'nightly' })
    const { images } = await s.snapshots.readImages('nightly')
    const g3 = await s.applyNext(s.allBlocks.slice(0, 80))
    await s.applyNext(s.allBlocks.slice(20, 90))
    await expect(drills.start({ atGroup: g3 })).rejects.toThrow(
      new RegExp(`at group ${g3}: .*groups its snapshots pin \\(${g2}\\) only`),
    )
    await expect(drills.start({ atGroup: 99 })).rejects.toThrow(/has applied up to group 4/)
    await expect(drills.start({ name: 'bad name' })).rejects.toThrow(/drill name "bad name"/)
    const drill = await drills.start({ atGroup: g2, name: 'past' })
    expect(drill).toMatchObject({ groupSeq: g2, source: { kind: 'snapshot', snapshot: 'nightly' } })
    await s.snapshots.delete('nightly')
    await s.applyNext(s.allBlocks.slice(0, 100))
    const lease = await drills.serve()
    cleanups.push(() => lease.release())
    for (const v of lease.image.layout.volumes)
      expect((await lease.image.read(v, 0, BLOCKS)).equals(images.get(v.name) as Buffer)).toBe(true)
    await lease.release()
    await drills.stop()
    expect(await leftBehind(s, drills)).toEqual({ overlay: 0, drillSnapshots: 0, keptVersions: 0, servedBy: undefined })
    expect(await s.snapshots.list()).toEqual([])
  })
})
