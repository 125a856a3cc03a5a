/**
 * The snapshot store on the real PostgreSQL against the model
 * (test/kit/snapshotModel.ts), property-tested with short sequences: any
 * mix of batches of groups, snapshots now, at a group, at a time, and
 * deletes leaves every snapshot pinned where the model says and reading
 * as the model's image there, and no kept version that no snapshot reads.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { silentLogger } from '../../lib/logger.js'
import { createPool, type Pool } from '../../lib/postgres.js'
import type { ModelRequest } from '../kit/snapshotModel.js'
import { stackInfo } from '../kit/servers.js'
import { ALL_BLOCKS, createSnapshotRig, sameImages, type SnapshotRig } from '../kit/snapshotStore.js'

let pool: Pool

beforeAll(() => {
  pool = createPool({ url: stackInfo().databaseUrl, logger: silentLogger, max: 4 })
})
afterAll(async () => {
  await pool.end()
})

const op = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('apply' as const),
      groups: fc.array(fc.uniqueArray(fc.nat(ALL_BLOCKS.length - 1), { maxLength: 12 }), {
        minLength: 1,
        maxLength: 3,
      }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('now' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('atGroup' as const), ahead: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('atTime' as const), ahead: fc.integer({ min: 1, max: 35 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }) },
)
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never

/** Runs one op on the store; returns the request of a snapshot it made. */
async function run(r: SnapshotRig, o: Op, name: string): Promise<ModelRequest | 'deleted' | undefined> {
  const last = r.model.last
  if (o.kind === 'apply') {
    await r.apply(o.groups.map((blocks) => r.group(blocks.map((b) => ALL_BLOCKS[b] as [string, number]))))
    return undefined
  }
  if (o.kind === 'delete') return 'deleted'
  const target =
    o.kind === 'now'
      ? {}
      : o.kind === 'atGroup'
        ? { atGroup: (last?.groupSeq ?? 0) + o.ahead }
        : { atTime: (last?.groupTime ?? 1_000_000) + o.ahead }
  const made = r.snapshots.create({ name, ...target })
  if (o.kind === 'now' && last === undefined) {
    await expect(made).rejects.toMatchObject({ code: 'XRC_USAGE' })
    return undefined
  }
  await made
  return { ...target, createdAfter: last?.groupSeq ?? 0 }
}

/** Every snapshot where the model says, reading as its image; no version kept that none reads. */
async function check(r: SnapshotRig, requests: Map<string, ModelRequest>): Promise<void> {
  const listed = new Map((await r.snapshots.list()).map((s) => [s.name, s]))
  expect([...listed.keys()].sort()).toEqual([...requests.keys()].sort())
  for (const [name, req] of requests) {
    const want = r.model.expectedPin(req)
    expect(listed.get(name)?.groupSeq, name).toBe(want?.groupSeq)
    if (want !== undefined)
      expect(sameImages((await r.snapshots.readImages(name)).images, r.modelImages(want.groupSeq)), name).toBe(true)
  }
  expect(await r.unneededVersions()).toBe(0)
}

it('property: the store keeps every snapshot as the model does, and nothing more', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
      const r = await createSnapshotRig(pool, 'xrc_snap_prop')
      try {
        const requests = new Map<string, ModelRequest>()
        for (const [i, o] of ops.entries()) {
          const made = await run(r, o, `s${i}`)
          if (made === 'deleted') {
            const names = [...requests.keys()]
            const victim = names[(o as { pick: number }).pick % Math.max(1, names.length)]
            if (victim !== undefined) {
              await r.snapshots.delete(victim)
              requests.delete(victim)
            }
          } else if (made !== undefined) requests.set(`s${i}`, made)
          await check(r, requests)
        }
      } finally {
        await r.drop()
      }
    }),
    { numRuns: 25 },
  )
})
