/**
 * Block ranges the failover bench writes through the primary: a volume
 * filled in order, or one block in each of a chosen set of segments. The
 * split into writes and the choice of segments are pure; writeRanges runs
 * the writes (inside the primary's stage process, bench/stageProcess.ts).
 */
import { randomBytes } from 'node:crypto'
import { nowMs, type BlockRange, type RangesWritten } from '../protocol.js'

/** `ranges` cut into writes of at most `blocksPerWrite` blocks, in order. */
export function splitRanges(ranges: readonly BlockRange[], blocksPerWrite: number): BlockRange[] {
  const out: BlockRange[] = []
  const step = Math.max(1, Math.floor(blocksPerWrite))
  for (const r of ranges)
    for (let first = r.first; first < r.first + r.count; first += step)
      out.push({ volume: r.volume, first, count: Math.min(step, r.first + r.count - first) })
  return out
}

/**
 * `fraction` of the session's segments (at least one), spread evenly over
 * them in volume order, and one block in each: the block in the middle of
 * the segment (a segment shorter than the others, at a volume's end, counts
 * too). Returns the blocks to write, one range of one block per segment.
 */
export function segmentsToChange(
  volumes: readonly { name: string; blocks: number }[],
  segmentBlocks: number,
  fraction: number,
): BlockRange[] {
  const all = volumes.flatMap((v) =>
    Array.from({ length: Math.ceil(v.blocks / segmentBlocks) }, (_, s) => {
      const first = s * segmentBlocks
      const count = Math.min(segmentBlocks, v.blocks - first)
      return { volume: v.name, first: first + Math.floor(count / 2), count: 1 }
    }),
  )
  const n = Math.min(all.length, Math.max(1, Math.round(all.length * fraction)))
  // evenly spaced: segment floor((i + 0.5) * all / n), never the same one twice
  return Array.from({ length: n }, (_, i) => all[Math.floor(((i + 0.5) * all.length) / n)] as BlockRange)
}

/** One write of whole blocks; resolves with its session time (µs). */
export type RangeWrite = (range: BlockRange, data: Buffer) => Promise<number>

/**
 * Writes `ranges` (split into writes of `blocksPerWrite` blocks) with
 * `concurrency` writes in flight, random data in each; throws on the first
 * failed write.
 */
export async function writeRanges(
  write: RangeWrite,
  options: { ranges: readonly BlockRange[]; blocksPerWrite: number; concurrency: number; blockSize: number },
): Promise<RangesWritten> {
  const writes = splitRanges(options.ranges, options.blocksPerWrite)
  const pool = randomBytes(options.blockSize * Math.max(1, Math.floor(options.blocksPerWrite)) + 4096)
  const startedMs = nowMs()
  let next = 0
  let bytes = 0
  let lastTime = Number.NEGATIVE_INFINITY
  const writer = async (): Promise<void> => {
    for (let i = next++; i < writes.length; i = next++) {
      const w = writes[i] as BlockRange
      const data = Buffer.allocUnsafe(w.count * options.blockSize)
      // a different slice of the random pool per write, its number stamped in: no two writes alike
      pool.copy(data, 0, i % 4096, (i % 4096) + data.length)
      data.writeUInt32LE(i >>> 0, 0)
      const time = await write(w, data)
      bytes += data.length
      if (time > lastTime) lastTime = time
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, writer))
  return { writes: writes.length, bytes, lastTime, startedMs, endedMs: nowMs() }
}
