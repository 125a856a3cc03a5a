/**
 * The verdict on one segment in `xrc verify`, pure: the secondary's code
 * computed now from its blocks as of applied time T, against the primary's
 * code and the time of the primary's last write to the segment.
 *
 * - written: the primary wrote it after T, so the two need not agree yet;
 *   verify checks it again once the secondary has passed that write.
 * - mismatch 'data': the secondary's blocks differ from the primary's.
 * - mismatch 'storedCode': the blocks agree but the secondary keeps a code
 *   marked valid that is not theirs (its blocks were changed behind the
 *   applier's back, and a failback would trust that code).
 */
import { segmentBlockRange } from '../../lib/segmentCodes.js'

export type SegmentVerdict = 'match' | 'written' | { mismatch: 'data' | 'storedCode' }

export function compareSegment(
  secondary: { code: string; valid: boolean; stored?: string },
  primary: { code: string; lastWrite: number },
  appliedTime: number,
): SegmentVerdict {
  if (primary.lastWrite > appliedTime) return 'written'
  if (secondary.code !== primary.code) return { mismatch: 'data' }
  if (secondary.valid && secondary.stored !== secondary.code) return { mismatch: 'storedCode' }
  return 'match'
}

/** A segment verify reports: its volume, number and blocks. */
export interface SegmentReport {
  volume: string
  segment: number
  firstBlock: number
  lastBlock: number
  reason?: 'data' | 'storedCode'
}

export function segmentReport(
  volume: { name: string; blocks: number },
  segment: number,
  segmentBlocks: number,
  reason?: 'data' | 'storedCode',
): SegmentReport {
  const { first, count } = segmentBlockRange(segment, segmentBlocks, volume.blocks)
  return {
    volume: volume.name,
    segment,
    firstBlock: first,
    lastBlock: first + count - 1,
    ...(reason ? { reason } : {}),
  }
}
