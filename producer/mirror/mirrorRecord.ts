/**
 * A controller's mirroring state on the primary, `mirror.json` in its
 * folder, so a restarted primary knows it is suspended (and sends no
 * heartbeat that would let the consistency time pass marked writes) or in
 * the middle of a resync. Written atomically (lib/stateFile.ts).
 *
 *   state            duplex | suspended | resyncing
 *   reason           why it suspended (kafka-unreachable, sidefile-full,
 *                    operator, journal-lost)
 *   since            when it suspended (ISO time)
 *   consistentUntil  S: the stream holds every change of the controller up
 *                    to S; later ones may be only marked (0: nothing can be
 *                    assumed, after the journal was lost)
 *   epoch            the last resync epoch begun
 */
import { join } from 'node:path'
import { readStateFile, writeStateFile } from '../../lib/stateFile.js'

export type MirrorState = 'duplex' | 'suspended' | 'resyncing'
export type SuspendReason = 'kafka-unreachable' | 'sidefile-full' | 'operator' | 'journal-lost'

export interface MirrorRecord {
  state: MirrorState
  reason?: SuspendReason
  since?: string
  consistentUntil: number
  epoch: number
}

export const DUPLEX: Readonly<MirrorRecord> = Object.freeze({ state: 'duplex', consistentUntil: 0, epoch: 0 })

/**
 * A suspension the primary resumes from by itself (with resync.autoResume on) once the cause is gone: an
 * outage or a full sidefile. An operator's suspension, or a lost journal, waits for the operator.
 */
export function resumesByItself(reason: SuspendReason | undefined, autoResume: boolean): boolean {
  return autoResume && (reason === 'kafka-unreachable' || reason === 'sidefile-full')
}

const STATES: readonly MirrorState[] = ['duplex', 'suspended', 'resyncing']
const REASONS: readonly SuspendReason[] = ['kafka-unreachable', 'sidefile-full', 'operator', 'journal-lost']

/** Reads `mirror.json` of a controller folder (duplex when there is none). */
export function loadMirrorRecord(dir: string): Promise<MirrorRecord> {
  return readStateFile(join(dir, 'mirror.json'), parseMirrorRecord, () => ({ ...DUPLEX }))
}

function parseMirrorRecord(parsed: unknown): MirrorRecord {
  const r = parsed as Partial<MirrorRecord>
  if (!STATES.includes(r.state as MirrorState)) throw new Error(`state "${String(r.state)}"`)
  if (r.reason !== undefined && !REASONS.includes(r.reason)) throw new Error(`reason "${String(r.reason)}"`)
  for (const key of ['consistentUntil', 'epoch'] as const)
    if (!Number.isSafeInteger(r[key]) || (r[key] as number) < 0) throw new Error(`${key} is not a non-negative integer`)
  return {
    state: r.state as MirrorState,
    consistentUntil: r.consistentUntil as number,
    epoch: r.epoch as number,
    ...(r.reason ? { reason: r.reason } : {}),
    ...(r.since ? { since: String(r.since) } : {}),
  }
}

/** Replaces `mirror.json` atomically and durably. */
export function saveMirrorRecord(dir: string, record: MirrorRecord): Promise<void> {
  return writeStateFile(join(dir, 'mirror.json'), record)
}

/**
 * The state a process takes from its controllers' records (pure): the most
 * cautious one. A controller with marks but a duplex record (marks whose
 * suspension was never saved) counts as suspended with S = 0: nothing after
 * the secondary's image can be assumed. `pending` gives each record's
 * marked-block count.
 */
export function combineRecords(records: readonly { record: MirrorRecord; pending: number }[]): MirrorRecord {
  const epoch = Math.max(0, ...records.map((r) => r.record.epoch))
  const suspended = records.filter(
    (r) => r.record.state === 'suspended' || (r.record.state === 'duplex' && r.pending > 0),
  )
  const resyncing = records.filter((r) => r.record.state === 'resyncing')
  const first = suspended[0] ?? resyncing[0]
  if (first === undefined) return { ...DUPLEX, epoch }
  return {
    state: suspended.length > 0 ? 'suspended' : 'resyncing',
    consistentUntil: Math.min(
      ...[...suspended, ...resyncing].map((r) => (r.record.state === 'duplex' ? 0 : r.record.consistentUntil)),
    ),
    epoch,
    reason: first.record.reason ?? 'operator',
    since: first.record.since ?? new Date().toISOString(),
  }
}
