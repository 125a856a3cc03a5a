/**
 * Checks a consistency group against the secondary's layout before any of
 * it is written: an update the store cannot hold exactly is an error
 * (XRC_INVALID_RECORD) naming the group and the update, never a silent drop.
 */
import { XrcError } from '../../lib/errors.js'
import type { ConsistencyGroup } from '../../schemas/journal.js'
import type { BlockRow } from './copyBinary.js'

/** A volume of the secondary: its row id in the store and its size. */
export interface VolumeLayout {
  id: number
  name: string
  blocks: number
}

export interface StoreLayout {
  session: string
  blockSize: number
  volumes: ReadonlyMap<string, VolumeLayout>
}

/**
 * Returns the group's updates as rows of the store, in journal order.
 * Throws XRC_INVALID_RECORD when the group belongs to another session, has a
 * non-positive sequence or time, or holds an update for an unknown volume,
 * a block out of range, data that is not exactly one block, or a second
 * update of the same block (the mover keeps only the last one per group).
 */
export function validateGroup(group: ConsistencyGroup, layout: StoreLayout): BlockRow[] {
  const context = { session: layout.session, groupSeq: group.groupSeq, groupTime: String(group.groupTime) }
  const invalid = (problem: string, extra: Record<string, unknown> = {}): XrcError =>
    new XrcError('XRC_INVALID_RECORD', { reason: 'group', ...context, problem }, { context: extra })
  if (group.session !== layout.session)
    throw invalid(`belongs to session "${group.session}", this secondary holds session "${layout.session}"`)
  if (!Number.isSafeInteger(group.groupSeq) || group.groupSeq < 1)
    throw invalid('group sequence must be a positive integer')
  if (!Number.isSafeInteger(group.groupTime) || group.groupTime < 1)
    throw invalid('group time must be a positive integer (microseconds)')

  const rows: BlockRow[] = []
  const seen = new Set<string>()
  for (const [i, u] of group.updates.entries()) {
    const where = { volume: u.volume, block: u.block, controller: u.controller, seq: u.seq }
    const volume = layout.volumes.get(u.volume)
    if (volume === undefined) throw invalid(`update ${i} names unknown volume "${u.volume}"`, where)
    if (!Number.isSafeInteger(u.block) || u.block < 0 || u.block >= volume.blocks)
      throw invalid(
        `update ${i} writes block ${u.block} of volume "${u.volume}", which has blocks 0..${volume.blocks - 1}`,
        where,
      )
    if (u.data.length !== layout.blockSize)
      throw invalid(
        `update ${i} (volume "${u.volume}" block ${u.block}) carries ${u.data.length} bytes, ` +
          `not one block of ${layout.blockSize}`,
        where,
      )
    const key = `${volume.id}:${u.block}`
    if (seen.has(key)) throw invalid(`volume "${u.volume}" block ${u.block} is written twice in one group`, where)
    seen.add(key)
    rows.push({ volumeId: volume.id, block: u.block, data: u.data })
  }
  return rows
}
