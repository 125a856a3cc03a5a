/**
 * The primary's side of the segment codes (lib/segmentCodes.ts): per volume
 * segment, the session time of the last write that changed it, kept in
 * memory (8 bytes per segment: 8 KiB for a 1 GiB volume of 1 MiB segments),
 * and the codes computed over the volume file on request.
 *
 * A write's time is noted in the synchronous step that stamps it, before its
 * bytes reach the file, and a code reads its segment only once every write
 * stamped before the read has reached the volume (readAfterWrites): so a
 * segment whose last write time is at or below T holds, when its code is
 * computed, exactly the writes stamped up to T. After a restart the times of
 * earlier writes are not known: every segment counts as written at the
 * highest time the controller recovered (the floor), which is safe.
 */
import { segmentBlockRange, segmentCode, segmentCount, segmentOf } from '../../lib/segmentCodes.js'

/** A segment's code on the primary and the time of its last write (the floor when none since start). */
export interface PrimarySegmentCode {
  segment: number
  code: string
  lastWrite: number
}

export class SegmentWriteTimes {
  readonly segmentBlocks: number
  readonly #times = new Map<string, Float64Array>()

  constructor(volumes: readonly { name: string; blocks: number }[], segmentBlocks: number, floor: number) {
    this.segmentBlocks = segmentBlocks
    for (const v of volumes)
      this.#times.set(v.name, new Float64Array(segmentCount(v.blocks, segmentBlocks)).fill(floor))
  }

  /** A write of `count` blocks from `block` was stamped `time`. */
  wrote(volume: string, block: number, count: number, time: number): void {
    const times = this.#times.get(volume)
    if (times === undefined) return
    const last = segmentOf(block + count - 1, this.segmentBlocks)
    for (let s = segmentOf(block, this.segmentBlocks); s <= last; s++) times[s] = Math.max(times[s] ?? 0, time)
  }

  lastWrite(volume: string, segment: number): number {
    return this.#times.get(volume)?.[segment] ?? 0
  }
}

/**
 * The codes of segments `from` .. `from + count - 1` of a volume (clipped to
 * the volume), each read after the writes stamped before it
 * (`readAfterWrites`), its last write time taken after the read.
 */
export async function computeSegmentCodes(
  volume: { name: string; blocks: number },
  times: SegmentWriteTimes,
  readAfterWrites: (block: number, count: number) => Promise<Buffer>,
  range: { from: number; count: number },
): Promise<PrimarySegmentCode[]> {
  const out: PrimarySegmentCode[] = []
  const end = Math.min(range.from + range.count, segmentCount(volume.blocks, times.segmentBlocks))
  for (let segment = range.from; segment < end; segment++) {
    const { first, count } = segmentBlockRange(segment, times.segmentBlocks, volume.blocks)
    const code = segmentCode(await readAfterWrites(first, count))
    out.push({ segment, code, lastWrite: times.lastWrite(volume.name, segment) })
  }
  return out
}
