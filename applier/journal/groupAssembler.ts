/**
 * Joins the journal records of a consistency group (parts 0..parts-1, all in
 * one Kafka transaction, so consecutive among committed records) into the
 * whole group. Pure: the applier feeds it records with their offsets.
 *
 * Anything but the next expected part is an error (XRC_GROUP_INCOMPLETE)
 * rather than a guess: applying a group with a part missing would leave the
 * secondary at no consistency time at all.
 */
import { XrcError } from '../../lib/errors.js'
import type { ConsistencyGroup, JournalRecord } from '../../schemas/journal.js'
import { isMarker } from '../../schemas/markers.js'

/** A whole group and where its parts sit in the journal. */
export interface AssembledGroup {
  group: ConsistencyGroup
  /** Offset of part 0. */
  firstOffset: number
  /** Offset of the last part: the group's journal offset in the control table. */
  lastOffset: number
  /**
   * The marker, when the group is one (schemas/markers.ts): `group` then
   * has no updates until the marker is resolved against the updates topic.
   */
  marker?: JournalRecord
}

export class GroupAssembler {
  private parts: JournalRecord[] = []
  private firstOffset = -1
  private lastOffset = -1

  /** Parts held for a group not yet complete. */
  get pendingParts(): number {
    return this.parts.length
  }

  /**
   * Takes the next committed journal record and its offset. Returns the
   * group when this record completes it, undefined while parts are still to
   * come. Throws XRC_GROUP_INCOMPLETE when the record is not the next part
   * (a group that starts before the previous one ended, a part missing or
   * repeated, a part whose group fields differ from part 0's) or when its
   * part numbers are impossible; the held parts are then dropped.
   */
  push(record: JournalRecord, offset: number): AssembledGroup | undefined {
    const problem = this.check(record, offset)
    if (problem !== undefined) {
      const held = this.parts[0]
      this.reset()
      throw new XrcError(
        'XRC_GROUP_INCOMPLETE',
        {
          offset: String(offset),
          groupSeq: record.groupSeq,
          part: record.part,
          parts: record.parts,
          problem,
          session: record.session,
          groupTime: String(record.groupTime),
        },
        { context: { heldGroup: held?.groupSeq } },
      )
    }
    if (this.parts.length === 0) this.firstOffset = offset
    this.parts.push(record)
    this.lastOffset = offset
    if (record.part < record.parts - 1) return undefined
    const parts = this.parts
    const assembled: AssembledGroup = {
      group: {
        session: record.session,
        groupSeq: record.groupSeq,
        groupTime: record.groupTime,
        updates: parts.length === 1 ? record.updates : parts.flatMap((p) => p.updates),
        controllers: parts.length === 1 ? record.controllers : parts.flatMap((p) => p.controllers),
        windows: parts.flatMap((p) => p.windows ?? []),
      },
      firstOffset: this.firstOffset,
      lastOffset: offset,
      ...(isMarker(record) ? { marker: record } : {}),
    }
    this.reset()
    return assembled
  }

  /** Drops held parts: the reader went back to an earlier offset, so they will come again. */
  reset(): void {
    this.parts = []
    this.firstOffset = -1
    this.lastOffset = -1
  }

  private check(record: JournalRecord, offset: number): string | undefined {
    if (!Number.isInteger(record.parts) || record.parts < 1) return `parts must be at least 1`
    if (!Number.isInteger(record.part) || record.part < 0 || record.part >= record.parts)
      return `part must be in 0..${record.parts - 1}`
    if (isMarker(record) && record.parts !== 1) return `a marker is one record, not ${record.parts} parts`
    const first = this.parts[0]
    if (first === undefined) return record.part === 0 ? undefined : `part ${record.part} without the parts before it`
    const expected =
      `part ${this.parts.length} of group ${first.groupSeq} ` +
      `(${first.parts} parts, begun at offset ${this.firstOffset})`
    if (offset <= this.lastOffset)
      return `offset not after the previous part's ${this.lastOffset}; expected ${expected}`
    if (record.groupSeq !== first.groupSeq || record.session !== first.session)
      return `expected ${expected}: group ${first.groupSeq} is cut short`
    if (record.part !== this.parts.length) return `expected ${expected}`
    if (record.parts !== first.parts || record.groupTime !== first.groupTime) {
      return (
        `its parts count ${record.parts} or time ${record.groupTime} ` +
        `differs from part 0's (${first.parts}, ${first.groupTime})`
      )
    }
    return undefined
  }
}
