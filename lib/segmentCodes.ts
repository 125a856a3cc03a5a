/**
 * Codes per segment (checksum-guided verify and failback, US 7,877,628): a
 * volume is cut into segments of session.segmentBlocks blocks (the last one
 * may be shorter), and a segment's code is SHA-256 over its blocks in block
 * order, a block never written counting as zeros. Both sites compute it the
 * same way: the primary over its volume file (one contiguous read), the
 * secondary in PostgreSQL with sha256() over the blocks it holds
 * (applier/codes/codesSql.ts), so no block data leaves the server. SHA-256
 * because PostgreSQL has it built in and a code must not collide by chance
 * nor by design (a failback skips a segment on equal codes).
 */
import { createHash } from 'node:crypto'

/** The segment holding `block`. */
export function segmentOf(block: number, segmentBlocks: number): number {
  return Math.floor(block / segmentBlocks)
}

/** How many segments a volume of `volumeBlocks` blocks has. */
export function segmentCount(volumeBlocks: number, segmentBlocks: number): number {
  return Math.ceil(volumeBlocks / segmentBlocks)
}

/** The blocks of a segment: the first, and how many (the last segment of a volume may be shorter). */
export function segmentBlockRange(
  segment: number,
  segmentBlocks: number,
  volumeBlocks: number,
): { first: number; count: number } {
  const first = segment * segmentBlocks
  return { first, count: Math.max(0, Math.min(segmentBlocks, volumeBlocks - first)) }
}

/** The code of a segment's bytes (all its blocks, in order), as lowercase hex. */
export function segmentCode(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex')
}
