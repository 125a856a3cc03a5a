/**
 * The mirror's status as the primary's API, CLI and metrics show it (pure:
 * built from the state machine's state and what the shell counts).
 */
import type { AppliedState, SecondaryImage } from '../../schemas/appliedState.js'
import type { ChangeCounts } from '../changes/index.js'
import type { MachineState } from './mirrorMachine.js'
import { resumesByItself, type MirrorState, type SuspendReason } from './mirrorRecord.js'
import type { ProgressCounter, ResyncProgress } from './resyncProgress.js'
import { slowestSecondary } from './secondaries.js'

export interface MirrorStatus {
  state: MirrorState
  reason?: SuspendReason
  since?: string
  /** S of the current suspension or resync (session-clock µs); absent in duplex. */
  consistentUntil?: number
  epoch: number
  /** Writes acknowledged while suspended, since this process started. */
  markedWrites: number
  resync?: ResyncProgress
  changes: ChangeCounts
  /**
   * The consistency time every secondary heard holds (the minimum of what each said it applied, on the applied
   * topic): the older change generation is discarded up to it.
   */
  confirmedTime?: number
  /** The slowest secondary's last applied state as it told it (the one that holds the discard back). */
  secondary?: SecondaryStatus
  /** Every secondary heard, by name, as each told it. */
  secondaries?: SecondaryStatus[]
  /** Suspended by an outage or a full sidefile with resync.autoResume on: it resumes (and resyncs) by itself. */
  resumesItself?: boolean
}

/** A secondary's last applied state as it told it: its name, group, image state, when it said so. */
export interface SecondaryStatus {
  name: string
  groupSeq: number
  groupTime?: number
  image: SecondaryImage
  publishedAt: string
}

export interface StatusInputs {
  machine: MachineState
  autoResume: boolean
  markedWrites: number
  changes: ChangeCounts
  staleCopies: number
  progress: ProgressCounter | undefined
  confirmedTime: number | undefined
  secondaries: ReadonlyMap<string, AppliedState>
}

function secondaryStatus(secondary: AppliedState): SecondaryStatus {
  return {
    name: secondary.secondary,
    groupSeq: secondary.groupSeq,
    ...(secondary.groupTime !== null ? { groupTime: secondary.groupTime } : {}),
    image: secondary.image,
    publishedAt: new Date(secondary.publishedAt).toISOString(),
  }
}

/** The status of a mirror. */
export function mirrorStatus(i: StatusInputs): MirrorStatus {
  const { state, reason, since, consistentUntil, epoch } = i.machine
  const resync = i.progress?.snapshot(state === 'resyncing' ? i.changes.pending : 0, i.staleCopies)
  const slowest = slowestSecondary(i.secondaries)
  const heard = [...i.secondaries.values()].sort((a, b) => a.secondary.localeCompare(b.secondary))
  return {
    state,
    epoch,
    markedWrites: i.markedWrites,
    changes: i.changes,
    ...(reason ? { reason } : {}),
    ...(since ? { since } : {}),
    ...(state !== 'duplex' ? { consistentUntil } : {}),
    ...(resync ? { resync } : {}),
    ...(i.confirmedTime !== undefined ? { confirmedTime: i.confirmedTime } : {}),
    ...(slowest !== undefined ? { secondary: secondaryStatus(slowest), secondaries: heard.map(secondaryStatus) } : {}),
    ...(state === 'suspended' && resumesByItself(reason, i.autoResume) ? { resumesItself: true } : {}),
  }
}
