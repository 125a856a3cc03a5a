/**
 * Filling volumes through the pipeline before measuring. A running mirror's
 * secondary holds every block, so each host write replaces a row there; on a
 * store still empty most writes add one, which the secondary takes far
 * faster (session 15: 5,293-7,154 blocks/s while the bench's store filled,
 * 2,120-2,989 later in the same runs), so a rate measured then is not one a
 * mirror sustains.
 */
import { splitRanges } from './failover/blockRanges.js'
import type { PipelineHarness } from './pipelineHarness.js'
import type { RangesWritten } from './protocol.js'
import { round } from './stats.js'

/** How a bench profile fills its volumes. */
export interface FillSettings {
  /** Blocks per write: large writes, since the fill is not what is measured. */
  blocksPerWrite: number
  /** Writes in flight. */
  concurrency: number
  /** Blocks written before waiting for the secondary to commit the chunk before. */
  chunkBlocks: number
}

export interface FillOptions extends FillSettings {
  /** Bound on waiting for the secondary to commit a chunk. */
  drainTimeoutMs: number
}

/** How the fill went: every block once, and how fast the pipeline took it. */
export interface FillResult {
  blocks: number
  seconds: number
  mibPerSec: number
}

/**
 * Writes every block of `volumes` once, in order, `chunkBlocks` at a time: a
 * chunk is written while the pipeline takes the one before, so the backlog
 * stays within two chunks (far from the sidefile's bound, which would suspend
 * the session). Timed to the secondary's commit of the last write.
 */
export async function fillVolumes(
  harness: Pick<PipelineHarness, 'primary' | 'waitCommitted'>,
  volumes: readonly { name: string; blocks: number }[],
  options: FillOptions,
  log: (message: string) => void,
): Promise<FillResult> {
  const chunks = splitRanges(
    volumes.map((v) => ({ volume: v.name, first: 0, count: v.blocks })),
    options.chunkBlocks,
  )
  const blocks = volumes.reduce((sum, v) => sum + v.blocks, 0)
  const what = volumes.length === 1 ? (volumes[0] as { name: string }).name : `the ${volumes.length} volumes`
  log(`  filling ${what}: ${blocks} blocks through the pipeline, ${options.blocksPerWrite} per write`)
  const started = Date.now()
  let before: number | undefined
  for (const chunk of chunks) {
    const written = await harness.primary.request<RangesWritten>({
      op: 'writeRanges',
      ranges: [chunk],
      blocksPerWrite: options.blocksPerWrite,
      concurrency: options.concurrency,
    })
    if (before !== undefined) await harness.waitCommitted(before, options.drainTimeoutMs)
    before = written.lastTime
  }
  if (before !== undefined) await harness.waitCommitted(before, options.drainTimeoutMs)
  const seconds = (Date.now() - started) / 1000
  const mibPerSec = round((blocks * 4096) / 2 ** 20 / seconds, 1)
  log(`    filled in ${round(seconds, 1)} s (${mibPerSec} MiB/s)`)
  return { blocks, seconds: round(seconds, 1), mibPerSec }
}
