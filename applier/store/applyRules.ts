/**
 * The block store's decisions that need no database: whether an offset can
 * name a journal record, whether a group seen again is the one applied, what
 * the control row says, how the store's volumes differ from the config, and
 * what the image is after a commit. The store (blockStore.ts) reads and
 * writes around them.
 */
import { XrcError } from '../../lib/errors.js'
import type { ConsistencyGroup } from '../../schemas/journal.js'
import type { AppliedMark } from '../journal/index.js'
import type { ImageState } from '../resync/index.js'

/** The control row as PostgreSQL returns it (bigints). */
export interface ControlRow {
  group_seq: bigint
  group_time: bigint | null
  journal_offset: bigint | null
  /** Read with the lock only (readControlSql): the newest active snapshot's group time, null when none. */
  snapshot_pin_time?: bigint | null
  /** Read with the lock only: how many snapshots wait for their target. */
  snapshots_pending?: number
  /** Read with the lock only: the session a failover fenced this image for (fence.ts), null when none. */
  fenced_by?: string | null
}

/**
 * Throws XRC_FENCED when a failover fenced the image (`row.fenced_by` set):
 * no group is applied past the image the new primary was started from.
 */
export function checkNotFenced(row: ControlRow, session: string, groupSeq: number): void {
  if (row.fenced_by === undefined || row.fenced_by === null) return
  throw new XrcError('XRC_FENCED', { reason: 'secondary', session, fencedBy: row.fenced_by, groupSeq })
}

/** Throws XRC_USAGE unless `journalOffset` can be a journal record's offset. */
export function checkJournalOffset(journalOffset: number): void {
  if (!Number.isSafeInteger(journalOffset) || journalOffset < 0)
    throw new XrcError('XRC_USAGE', { reason: 'negativeOffset', what: 'journal offset', value: journalOffset })
}

/**
 * A group seen again must be the group that was applied: same time
 * (`appliedTime`, undefined when its history row is gone). A different time
 * means the journal is not the one this secondary followed:
 * XRC_GROUP_OUT_OF_ORDER.
 */
export function checkDuplicateTime(
  group: Pick<ConsistencyGroup, 'groupSeq' | 'groupTime'>,
  appliedTime: bigint | undefined,
): void {
  if (appliedTime === undefined || appliedTime === BigInt(group.groupTime)) return
  throw new XrcError('XRC_GROUP_OUT_OF_ORDER', {
    reason: 'timeMismatch',
    groupSeq: group.groupSeq,
    groupTime: String(group.groupTime),
    applied: appliedTime,
  })
}

/** The last applied group the control row names; undefined for a store that applied none (seq 0). */
export function markOfControlRow(row: ControlRow): AppliedMark | undefined {
  if (row.group_seq === 0n || row.group_time === null || row.journal_offset === null) return undefined
  return {
    groupSeq: safeNumber(row.group_seq, 'group_seq'),
    groupTime: safeNumber(row.group_time, 'group_time'),
    journalOffset: safeNumber(row.journal_offset, 'journal_offset'),
  }
}

/** A volume as configured, or as the store's volumes table holds it. */
export interface VolumeSize {
  name: string
  blocks: number | bigint
  /** Absent for a configured volume: the session's block size. */
  blockSize?: number
}

/**
 * What keeps the store from serving the config: each configured volume the
 * store holds with another size or block size, described. A volume the store
 * does not hold yet is no mismatch (init() registers it).
 */
export function volumeMismatches(
  configured: readonly VolumeSize[],
  stored: readonly VolumeSize[],
  blockSize: number,
): string[] {
  const byName = new Map(stored.map((v) => [v.name, v]))
  return configured.flatMap((v) => {
    const r = byName.get(v.name)
    if (r === undefined) return []
    if (safeNumber(r.blocks, 'volume size') === Number(v.blocks) && r.blockSize === blockSize) return []
    return [
      `volume "${v.name}" is ${r.blocks} blocks of ${r.blockSize} bytes in the secondary, ` +
        `${v.blocks} blocks of ${blockSize} in the config`,
    ]
  })
}

/**
 * The image after a group committed. `written` is what the group's
 * transaction read back when it touched the resync rows (undefined: it did
 * not, the common case). A consistent image stays as it is, so its count of
 * retained versions is not reset on every group.
 */
export function imageAfterCommit(previous: ImageState | undefined, written: ImageState | undefined): ImageState {
  if (written !== undefined) return written
  if (previous?.state === 'consistent') return previous
  return { state: 'consistent', retainedVersions: 0 }
}

/** `v` as a number; XRC_INVALID_RECORD when it is beyond 2^53 (a row no applier wrote). */
export function safeNumber(v: bigint | number, what: string): number {
  const n = Number(v)
  if (!Number.isSafeInteger(n))
    throw new XrcError('XRC_INVALID_RECORD', { reason: 'beyondSafeInteger', what, value: v })
  return n
}
