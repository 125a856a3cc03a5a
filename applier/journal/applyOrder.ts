/**
 * The order rule of the secondary (the design's invariant 2: groups applied
 * in strictly increasing T, none skipped, none twice), as a pure decision on
 * the control row and the incoming group.
 */
import { XrcError } from '../../lib/errors.js'

/** The last group a store applied, as kept in its control row. */
export interface AppliedMark {
  groupSeq: number
  /** Consistency time T, microseconds since the epoch. */
  groupTime: number
  /** Journal offset of the group's last part. */
  journalOffset: number
}

export type OrderVerdict = 'apply' | 'duplicate'

/**
 * Decides what to do with group (`groupSeq`, `groupTime`) found at
 * `journalOffset`, given the store's last applied group (undefined: empty).
 *
 * - groupSeq at or below the last one: 'duplicate' (already applied; a
 *   re-read journal or a second applier). The caller writes nothing.
 * - groupSeq last+1 with a time strictly above the last one and a journal
 *   offset strictly above the stored one: 'apply'.
 * - anything else throws XRC_GROUP_OUT_OF_ORDER naming both values: a gap
 *   (a group is missing), a time that does not advance, or a journal offset
 *   that went back for a new group (a journal topic recreated under a
 *   secondary that belongs to the old one). Nothing is skipped.
 *
 * An empty store accepts group 1 only. A later start would leave out the
 * blocks written by the groups before it, and no image is consistent
 * without them. A store seeded from an image at group N (not built) would
 * write the control row first, and this rule would then hold as it is.
 */
export function checkGroupOrder(
  last: AppliedMark | undefined,
  group: { groupSeq: number; groupTime: number },
  journalOffset: number,
): OrderVerdict {
  const context = { groupSeq: group.groupSeq, groupTime: String(group.groupTime), offset: String(journalOffset) }
  if (last === undefined) {
    if (group.groupSeq === 1) return 'apply'
    throw new XrcError('XRC_GROUP_OUT_OF_ORDER', { reason: 'emptyStart', ...context })
  }
  if (group.groupSeq <= last.groupSeq) return 'duplicate'
  const applied = { lastGroupSeq: last.groupSeq, lastGroupTime: String(last.groupTime) }
  if (group.groupSeq !== last.groupSeq + 1) {
    const missing = { firstMissing: last.groupSeq + 1, lastMissing: group.groupSeq - 1 }
    throw new XrcError('XRC_GROUP_OUT_OF_ORDER', { reason: 'missingGroups', ...context, ...applied, ...missing })
  }
  if (group.groupTime <= last.groupTime) throw new XrcError('XRC_GROUP_OUT_OF_ORDER', { ...context, ...applied })
  if (journalOffset <= last.journalOffset) {
    throw new XrcError('XRC_GROUP_OUT_OF_ORDER', {
      reason: 'offsetNotAfter',
      ...context,
      lastGroupSeq: last.groupSeq,
      lastOffset: String(last.journalOffset),
    })
  }
  return 'apply'
}
