/**
 * A drill and a drill history row: as PostgreSQL returns them (drillSql.ts)
 * and as drills.ts describes them to its callers.
 */
import { safeNumber } from '../store/applyRules.js'
import type { DrillPhase, DrillRecord } from './drillRules.js'

/** A drill as start(), current() and serve() describe it. */
export interface DrillInfo {
  name: string
  /** Its own snapshot (drill:<name>), deleted with it. */
  snapshot: string
  /** The group its image is as of. */
  groupSeq: number
  groupTime: number
  journalOffset: number
  /** Where that group's image came from: the newest applied group, or the snapshot whose pin it took. */
  source: { kind: 'newest' } | { kind: 'snapshot'; snapshot: string }
  phase: DrillPhase
  startedAt: Date
  stopBeganAt?: Date
  checked?: string
  /** current() only: blocks in the overlay now, and who serves it (application name and backend pid). */
  blocksWritten?: number
  servedBy?: string
}

/** One stopped drill. */
export interface DrillHistoryEntry {
  name: string
  snapshot: string
  groupSeq: number
  groupTime: number
  source: DrillInfo['source']
  startedAt: Date
  stoppedAt: Date
  checked?: string
  blocksWritten: number
  bytesWritten: number
}

/** A drills row as PostgreSQL returns it. */
export interface DrillRow {
  id: bigint
  name: string
  snapshot: string
  group_seq: bigint
  group_time: bigint
  journal_offset: bigint
  source: string
  phase: DrillPhase
  started_at: Date
  stop_began_at: Date | null
  checked: string | null
  blocks_written: bigint | null
}

export interface HistoryRow {
  id: bigint
  name: string
  snapshot: string
  group_seq: bigint
  group_time: bigint
  source: string
  started_at: Date
  stopped_at: Date
  checked: string | null
  blocks_written: bigint
  bytes_written: bigint
}

function sourceOf(source: string): DrillInfo['source'] {
  return source === 'newest' ? { kind: 'newest' } : { kind: 'snapshot', snapshot: source }
}

export function infoOf(r: DrillRow): DrillInfo {
  return {
    name: r.name,
    snapshot: r.snapshot,
    groupSeq: safeNumber(r.group_seq, 'group_seq'),
    groupTime: safeNumber(r.group_time, 'group_time'),
    journalOffset: safeNumber(r.journal_offset, 'journal_offset'),
    source: sourceOf(r.source),
    phase: r.phase,
    startedAt: r.started_at,
    ...(r.stop_began_at === null ? {} : { stopBeganAt: r.stop_began_at }),
    ...(r.checked === null ? {} : { checked: r.checked }),
  }
}

export function historyOf(r: HistoryRow): DrillHistoryEntry {
  return {
    name: r.name,
    snapshot: r.snapshot,
    groupSeq: safeNumber(r.group_seq, 'group_seq'),
    groupTime: safeNumber(r.group_time, 'group_time'),
    source: sourceOf(r.source),
    startedAt: r.started_at,
    stoppedAt: r.stopped_at,
    ...(r.checked === null ? {} : { checked: r.checked }),
    blocksWritten: Number(r.blocks_written),
    bytesWritten: Number(r.bytes_written),
  }
}

export function recordOf(r: DrillRow | undefined): DrillRecord | undefined {
  if (r === undefined) return undefined
  return {
    name: r.name,
    phase: r.phase,
    groupSeq: Number(r.group_seq),
    startedAt: r.started_at.toISOString(),
  }
}
