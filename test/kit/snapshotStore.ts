/**
 * Stores for the snapshot tests: each in its own schema, small blocks so
 * hundreds of groups apply quickly, groups made by hand (every block, or
 * chosen blocks, with random data), and the model (snapshotModel.ts) fed
 * with what was applied.
 */
import { randomBytes } from 'node:crypto'
import { createBlockStore, createSnapshots, type BlockStore, type Snapshots } from '../../applier/index.js'
import { silentLogger } from '../../lib/logger.js'
import type { Pool } from '../../lib/postgres.js'
import type { ConsistencyGroup, JournalWindow } from '../../schemas/journal.js'
import { createTestSchema } from './servers.js'
import { SnapshotModel } from './snapshotModel.js'

export const SNAP_BLOCK_SIZE = 512
export const SNAP_VOLUMES = [
  { name: 'va', blocks: 32 },
  { name: 'vb', blocks: 16 },
] as const
/** Every block of the test volumes, as [volume, block]. */
export const ALL_BLOCKS: [string, number][] = SNAP_VOLUMES.flatMap((v) =>
  Array.from({ length: v.blocks }, (_, b) => [v.name, b] as [string, number]),
)

export interface SnapshotRig {
  store: BlockStore
  snapshots: Snapshots
  schema: string
  session: string
  model: SnapshotModel<Buffer>
  /** The next group: seq after the last made, time `step` later, writing `blocks` with random data. */
  group(blocks: readonly [string, number][], options?: { step?: number; windows?: JournalWindow[] }): ConsistencyGroup
  /** Applies groups in one transaction (applyGroups) and feeds the model; `consistent` per group (default true). */
  apply(groups: ConsistencyGroup[], consistent?: boolean[]): Promise<void>
  /** The model's image of every volume after group `seq`, as whole volumes. */
  modelImages(seq: number): Map<string, Buffer>
  /** Rows in snapshot_versions. */
  versions(): Promise<number>
  /** Rows in snapshot_versions that no active snapshot reads (the invariant: none). */
  unneededVersions(): Promise<number>
  drop(): Promise<void>
}

/** A store in a fresh schema, its snapshots and a model. */
export async function createSnapshotRig(pool: Pool, prefix = 'xrc_snap'): Promise<SnapshotRig> {
  const pg = await createTestSchema(prefix)
  const session = 'snap_test'
  const store = createBlockStore({
    pool,
    schema: pg.schema,
    session,
    blockSize: SNAP_BLOCK_SIZE,
    volumes: SNAP_VOLUMES,
    logger: silentLogger,
  })
  await store.init()
  const snapshots = createSnapshots({ pool, schema: pg.schema, session })
  const model = new SnapshotModel<Buffer>()
  const s = `"${pg.schema}"`
  let seq = 0
  let time = 1_000_000
  const count = async (where: string): Promise<number> =>
    Number((await pool.query<{ n: bigint }>(`SELECT count(*) AS n FROM ${s}.snapshot_versions v ${where}`)).rows[0]?.n)
  return {
    store,
    snapshots,
    schema: pg.schema,
    session,
    model,
    group(blocks, options = {}) {
      seq++
      time += options.step ?? 10
      return {
        session,
        groupSeq: seq,
        groupTime: time,
        updates: blocks.map(([volume, block], i) => ({
          controller: 0,
          seq: seq * 1000 + i,
          time: time - 1,
          volume,
          block,
          data: randomBytes(SNAP_BLOCK_SIZE),
        })),
        controllers: [{ controller: 0, lastSeq: seq * 1000, lastTime: time, resumeOffset: 0 }],
        ...(options.windows !== undefined ? { windows: options.windows } : {}),
      }
    },
    async apply(groups, consistent = []) {
      const outcomes = await store.applyGroups(groups.map((group) => ({ group, journalOffset: group.groupSeq })))
      if (outcomes.some((o) => o !== 'applied')) throw new Error(`rig: not all applied: ${outcomes.join(', ')}`)
      groups.forEach((g, i) =>
        model.apply({
          groupSeq: g.groupSeq,
          groupTime: g.groupTime,
          writes: new Map(g.updates.map((u) => [`${u.volume}:${u.block}`, u.data])),
          consistent: consistent[i] ?? true,
        }),
      )
    },
    modelImages(atSeq) {
      const image = model.imageAt(atSeq)
      return new Map(
        SNAP_VOLUMES.map((v) => {
          const buf = Buffer.alloc(v.blocks * SNAP_BLOCK_SIZE)
          for (let b = 0; b < v.blocks; b++) image.get(`${v.name}:${b}`)?.copy(buf, b * SNAP_BLOCK_SIZE)
          return [v.name, buf]
        }),
      )
    },
    versions: () => count(''),
    unneededVersions: () =>
      count(`WHERE NOT EXISTS (SELECT 1 FROM ${s}.snapshots p WHERE p.state = 'active'
        AND p.group_time >= v.group_time AND p.group_time < v.superseded_time)`),
    drop: pg.drop,
  }
}

/** Whether two sets of volume images are byte-identical. */
export function sameImages(a: ReadonlyMap<string, Buffer>, b: ReadonlyMap<string, Buffer>): boolean {
  return a.size === b.size && [...a].every(([v, image]) => b.get(v)?.equals(image) === true)
}
