/**
 * One volume in a block store of its own schema, for the snapshot bench:
 * groups of random (incompressible) 4 KiB blocks applied through the store's
 * applyGroups, the path the applier takes, one group per transaction, only
 * the applyGroups call timed (the random data is made before it).
 */
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { createBlockStore, createSnapshots, type BlockStore, type Snapshots } from '../../applier/index.js'
import { silentLogger } from '../../lib/logger.js'
import { ident, type Pool } from '../../lib/postgres.js'
import type { ConsistencyGroup } from '../../schemas/journal.js'

export const BLOCK_SIZE = 4096
const VOLUME = 'v0'

export interface BenchVolume {
  readonly schema: string
  readonly blocks: number
  readonly store: BlockStore
  readonly snapshots: Snapshots
  /** Applies one group writing `blocks` with random data; resolves with the applyGroups call's ms. */
  applyGroup(blocks: ArrayLike<number>): Promise<number>
  /**
   * Writes every block once, in groups of `groupBlocks` (in block order, or shuffled), `before(i)`
   * awaited before group i, untimed; resolves with the seconds spent in applyGroups.
   */
  writeAll(groupBlocks: number, options?: { shuffle?: boolean; before?: (i: number) => Promise<void> }): Promise<number>
  /** Rows in snapshot_versions (kept block versions). */
  versions(): Promise<number>
  /** VACUUM of the store's block rows (live and kept), so every pass starts from the same tables. */
  vacuum(): Promise<void>
  drop(): Promise<void>
}

/** A store in `schema` (created) with one volume of `blocks` blocks, empty. */
export async function createBenchVolume(pool: Pool, schema: string, blocks: number): Promise<BenchVolume> {
  const session = schema
  const store = createBlockStore({
    pool,
    schema,
    session,
    blockSize: BLOCK_SIZE,
    volumes: [{ name: VOLUME, blocks }],
    logger: silentLogger,
  })
  await store.init()
  const snapshots = createSnapshots({ pool, schema, session })
  let seq = 0
  let time = Date.now() * 1000
  const applyGroup = async (which: ArrayLike<number>): Promise<number> => {
    seq++
    time += 1000
    const g = randomGroup(session, seq, time, which)
    const t0 = performance.now()
    const [outcome] = await store.applyGroups([{ group: g, journalOffset: g.groupSeq }])
    const ms = performance.now() - t0
    if (outcome !== 'applied') throw new Error(`snapshot bench: group ${g.groupSeq} was ${outcome}`)
    return ms
  }
  const t = store.tables
  return {
    schema,
    blocks,
    store,
    snapshots,
    applyGroup,
    async writeAll(groupBlocks, options = {}) {
      const order = blockOrder(blocks, options.shuffle ?? false)
      let ms = 0
      for (let i = 0, g = 0; i < blocks; i += groupBlocks, g++) {
        await options.before?.(g)
        ms += await applyGroup(order.subarray(i, Math.min(blocks, i + groupBlocks)))
      }
      return ms / 1000
    },
    async versions() {
      const res = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${t.snapshotVersions}`)
      return Number(res.rows[0]?.n ?? 0)
    },
    async vacuum() {
      await pool.query(`VACUUM ${t.blockRows}`)
    },
    async drop() {
      await pool.query(`DROP SCHEMA IF EXISTS ${ident(schema)} CASCADE`)
    },
  }
}

/** Group `seq` at `time` writing the blocks `which` of the volume with random data. */
function randomGroup(session: string, seq: number, time: number, which: ArrayLike<number>): ConsistencyGroup {
  const data = randomBytes(which.length * BLOCK_SIZE)
  const updates = Array.from({ length: which.length }, (_, i) => ({
    controller: 0,
    seq: seq * 1_000_000 + i,
    time: time - 1,
    volume: VOLUME,
    block: which[i] as number,
    data: data.subarray(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE),
  }))
  const controllers = [{ controller: 0, lastSeq: seq * 1_000_000, lastTime: time, resumeOffset: 0 }]
  return { session, groupSeq: seq, groupTime: time, updates, controllers }
}

/** 0..blocks-1, in order or shuffled (Fisher-Yates). */
export function blockOrder(blocks: number, shuffle: boolean): Uint32Array {
  const order = new Uint32Array(blocks)
  for (let i = 0; i < blocks; i++) order[i] = i
  if (!shuffle) return order
  for (let i = blocks - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    const t = order[i] as number
    order[i] = order[j] as number
    order[j] = t
  }
  return order
}
