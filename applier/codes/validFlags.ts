/**
 * The valid-flag rules of the secondary's segment codes (US 7,877,628), pure.
 * The SQL in codesSql.ts does exactly this, atomically:
 *
 * - An apply invalidates every segment a batch of groups writes, in the
 *   batch's transaction, and bumps the segment's generation (a segment the
 *   applier never wrote has no row: generation 0, no code).
 * - A recomputation reads a segment's generation and its blocks in one
 *   consistent snapshot, computes the code, and may set it valid only if
 *   the generation is still the one it read: any apply that committed since
 *   bumped it, and one still running holds the row lock until it commits.
 *
 * So a valid code always equals the code of its segment's blocks as the
 * applier left them (the property test against a model: validFlags.test.ts).
 */
import { segmentOf } from '../../lib/segmentCodes.js'

/** The generation of a segment without a row: never written by the applier since codes were kept. */
export const UNWRITTEN_GENERATION = 0

/** The segments a batch writes, once each, ordered (volume, segment): the parameters of one statement. */
export function segmentsWritten(
  rows: Iterable<{ volumeId: number; block: number }>,
  segmentBlocks: number,
): { volumeIds: number[]; segments: number[] } {
  const seen = new Map<string, { volumeId: number; segment: number }>()
  for (const r of rows) {
    const segment = segmentOf(r.block, segmentBlocks)
    seen.set(`${r.volumeId}:${segment}`, { volumeId: r.volumeId, segment })
  }
  const keys = [...seen.values()].sort((a, b) => a.volumeId - b.volumeId || a.segment - b.segment)
  return { volumeIds: keys.map((k) => k.volumeId), segments: keys.map((k) => k.segment) }
}

/** A segment's generation after an apply wrote it. */
export function generationAfterApply(current: number | undefined): number {
  return (current ?? UNWRITTEN_GENERATION) + 1
}

/** Whether a code computed from a read at generation `read` may be set valid now that the segment is at `now`. */
export function mayValidate(read: number, now: number | undefined): boolean {
  return (now ?? UNWRITTEN_GENERATION) === read
}
