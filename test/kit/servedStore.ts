/**
 * A secondary for the `xrc snapshot serve` tests: a session's config (its
 * volumes, schema and a data folder; no Kafka is used), its block store made
 * directly with the block store API, its snapshots, groups made by hand and
 * a loop that keeps applying groups in the background while clients read.
 */
import { randomBytes } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { createBlockStore, createSnapshots, type BlockStore, type Snapshots } from '../../applier/index.js'
import { loadConfig, type Config } from '../../lib/config.js'
import { silentLogger } from '../../lib/logger.js'
import { ident, type Pool } from '../../lib/postgres.js'
import type { ConsistencyGroup, JournalWindow } from '../../schemas/journal.js'
import { sessionSettings } from './session.js'

/** How a group fills a block: random bytes, or a stamp of the group (seq) and the block. */
export type Fill = 'random' | 'stamp'

/** A block written by `stamp`: the group's seq (u32), the block (u32), repeated over the block. */
export function stampBlock(seq: number, block: number, blockSize: number): Buffer {
  const b = Buffer.alloc(blockSize)
  for (let at = 0; at + 8 <= blockSize; at += 8) {
    b.writeUInt32BE(seq, at)
    b.writeUInt32BE(block, at + 4)
  }
  return b
}

/** The group seq of every stamped block of an image, in order (0 for a block never written). */
export function stampsOf(image: Buffer, blockSize: number): number[] {
  return Array.from({ length: image.length / blockSize }, (_, b) => image.readUInt32BE(b * blockSize))
}

export interface ServedStore {
  config: Config
  /** The config's overrides, for a config file. */
  settings: Record<string, unknown>
  store: BlockStore
  snapshots: Snapshots
  /** Every block of every volume, as [volume, block]. */
  allBlocks: [string, number][]
  /**
   * Applies the next group writing `blocks` (default: every block); resolves with its seq. With `resyncBegins`
   * the group carries a resync's BEGIN window: the image is inconsistent from it on.
   */
  applyNext(blocks?: readonly [string, number][], fill?: Fill, resyncBegins?: boolean): Promise<number>
  /** Applies groups one after the other until stop() (which resolves with how many were applied). */
  keepApplying(blocks: () => readonly [string, number][], fill?: Fill): { count(): number; stop(): Promise<number> }
  cleanup(): Promise<void>
}

export async function createServedStore(
  pool: Pool,
  options: { volumes: number; blocks: number; blockSize?: number },
): Promise<ServedStore> {
  const settings = sessionSettings({
    controllers: 1,
    volumesPerController: options.volumes,
    blocks: options.blocks,
    ...(options.blockSize !== undefined ? { blockSize: options.blockSize } : {}),
  })
  const config = loadConfig({ overrides: settings })
  const blockSize = config.session.blockSize
  const volumes = config.session.controllers.flatMap((c) => c.volumes)
  const session = config.session.name
  const schema = config.applier.schema
  const store = createBlockStore({ pool, schema, session, blockSize, volumes, logger: silentLogger })
  await store.init()
  let seq = 0
  const makeGroup = (blocks: readonly [string, number][], fill: Fill, resyncBegins: boolean): ConsistencyGroup => {
    seq++
    const time = 1_000_000 + seq * 10
    const begin: JournalWindow = {
      controller: 0,
      time: time - 4,
      event: 'BEGIN',
      epoch: 1,
      consistentUntil: time - 5,
      blocks: blocks.length,
      reason: 'test',
    }
    return {
      session,
      groupSeq: seq,
      groupTime: time,
      updates: blocks.map(([volume, block], i) => ({
        controller: 0,
        seq: seq * 100_000 + i,
        time: time - 1,
        volume,
        block,
        data: fill === 'random' ? randomBytes(blockSize) : stampBlock(seq, block, blockSize),
      })),
      controllers: [{ controller: 0, lastSeq: seq * 100_000, lastTime: time, resumeOffset: 0 }],
      ...(resyncBegins ? { windows: [begin] } : {}),
    }
  }
  const allBlocks = volumes.flatMap((v) => Array.from({ length: v.blocks }, (_, b) => [v.name, b] as [string, number]))
  const applyNext = async (
    blocks: readonly [string, number][] = allBlocks,
    fill: Fill = 'random',
    resyncBegins = false,
  ): Promise<number> => {
    const group = makeGroup(blocks, fill, resyncBegins)
    const [outcome] = await store.applyGroups([{ group, journalOffset: group.groupSeq }])
    if (outcome !== 'applied') throw new Error(`served store: group ${group.groupSeq} ${outcome}`)
    return group.groupSeq
  }
  return {
    config,
    settings,
    store,
    snapshots: createSnapshots({ pool, schema, session }),
    allBlocks,
    applyNext,
    keepApplying(blocks, fill = 'random') {
      let applied = 0
      let stopping = false
      const loop = (async () => {
        while (!stopping) {
          await applyNext(blocks(), fill)
          applied++
        }
      })()
      return {
        count: () => applied,
        async stop() {
          stopping = true
          await loop
          return applied
        },
      }
    },
    async cleanup() {
      await pool.query(`DROP SCHEMA IF EXISTS ${ident(schema)} CASCADE`)
      await rm(config.session.dataDir, { recursive: true, force: true })
    },
  }
}
