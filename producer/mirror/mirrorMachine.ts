/**
 * The mirror's suspend/resync state machine (pure): an event and the state
 * give the next state and the effects the shell (mirror.ts) performs, in
 * order. No I/O, no clock: the shell passes the tick and the time in.
 *
 *   duplex ──suspend──▶ suspended ──resume──▶ resyncing ──marks all sent──▶ duplex
 *                          ▲                      │
 *                          └───────suspend────────┘
 *
 * A resume is three steps, each an event, because the shell waits on disk
 * between them: `resume` plans the window's BEGIN, `begin-durable` (every
 * BEGIN is in its sidefile) enters resyncing and saves it, `resyncing-saved`
 * captures again and starts the runners. A suspension that lands between the
 * steps wins: the later steps find the state moved on and do nothing.
 */
import { combineRecords, type MirrorRecord, type MirrorState, type SuspendReason } from './mirrorRecord.js'

/** What the controllers do with a write: capture it in the stream, or mark its blocks for resync. */
export type WriteMode = 'capture' | 'mark'

export interface MachineState {
  readonly state: MirrorState
  readonly reason?: SuspendReason
  readonly since?: string
  /** S: the stream holds every change up to S (0: nothing can be assumed). */
  readonly consistentUntil: number
  /** The last resync epoch begun. */
  readonly epoch: number
  readonly mode: WriteMode
  /** Grows at each switch between capture and mark: a capture's clearing of marks holds only within its epoch. */
  readonly captureEpoch: number
  /** Between start and stop: runners and the END only go on while running. */
  readonly running: boolean
}

export type MirrorEvent =
  | { type: 'start'; records: readonly { record: MirrorRecord; pending: number }[] }
  | { type: 'stop' }
  /** `tick` is called only when the session leaves duplex (S is the tick of the switching step). */
  | { type: 'suspend'; reason: SuspendReason; tick: () => number; now: string }
  | { type: 'resume' }
  | { type: 'begin-durable'; epoch: number }
  | { type: 'resyncing-saved'; epoch: number; topicsRemade: boolean }
  /** Every controller's runner of `epoch` ended; `allDone`: each sent all its marks (none stopped). */
  | { type: 'runners-ended'; epoch: number; allDone: boolean }
  | { type: 'end-appended'; epoch: number; endTime: number }
  | { type: 'rebase'; tick: () => number; now: string }

export type MirrorEffect =
  /** Controllers switch to marking (redo floors, waiters released), the suspension is announced and `record` saved. */
  | { type: 'suspended'; reason: SuspendReason; record: MirrorRecord }
  /** Append a resync window BEGIN to every controller's sidefile, then send `begin-durable`. */
  | { type: 'append-begin'; epoch: number; consistentUntil: number; reason: SuspendReason; topicsRemade: boolean }
  /** Save `record` in every controller's mirror.json (chained after earlier saves). */
  | { type: 'save'; record: MirrorRecord }
  /** Capturing again: sends retry (with a new producer when the topics were made again), runners start. */
  | { type: 'capturing'; epoch: number; topicsRemade: boolean }
  /** Start a resync runner per controller for `epoch`. */
  | { type: 'start-runners'; epoch: number }
  /** Append a resync window END to every controller's sidefile, then send `end-appended`. */
  | { type: 'append-end'; epoch: number }
  /** The resync of `epoch` is complete at `endTime`. */
  | { type: 'resync-complete'; epoch: number; endTime: number }
  /** A state the last run left was taken up. */
  | { type: 'recovered' }

export interface Transition {
  state: MachineState
  effects: MirrorEffect[]
}

export const INITIAL: MachineState = Object.freeze({
  state: 'duplex',
  consistentUntil: 0,
  epoch: 0,
  mode: 'capture',
  captureEpoch: 0,
  running: false,
})

/** The record saved in mirror.json for a state. */
export function recordOf(s: MachineState): MirrorRecord {
  return {
    state: s.state,
    consistentUntil: s.consistentUntil,
    epoch: s.epoch,
    ...(s.reason ? { reason: s.reason } : {}),
    ...(s.since ? { since: s.since } : {}),
  }
}

/** Whether the resync of `epoch` may go on (its runners, its END). */
export function resyncActive(s: MachineState, epoch: number): boolean {
  return s.running && s.state === 'resyncing' && s.epoch === epoch
}

const unchanged = (state: MachineState): Transition => ({ state, effects: [] })

function suspend(s: MachineState, why: SuspendReason, tick: () => number, now: string): Transition {
  if (s.state === 'suspended') {
    // an operator's suspension (or a lost journal) is not resumed by itself: a later outage does not replace it
    if (why === 'operator' || why === 'journal-lost') return unchanged({ ...s, reason: why })
    return unchanged(s)
  }
  const next: MachineState = {
    ...s,
    mode: 'mark',
    captureEpoch: s.captureEpoch + 1,
    // coming from duplex the secondary can be consistent up to now; during a resync it has not been since S
    consistentUntil: s.state === 'duplex' ? tick() : s.consistentUntil,
    state: 'suspended',
    reason: why,
    since: now,
  }
  return { state: next, effects: [{ type: 'suspended', reason: why, record: recordOf(next) }] }
}

function start(s: MachineState, records: readonly { record: MirrorRecord; pending: number }[]): Transition {
  const { state, consistentUntil, epoch, reason, since } = combineRecords(records)
  const next: MachineState = {
    ...s,
    running: true,
    state,
    consistentUntil,
    epoch,
    reason,
    since,
    mode: state === 'suspended' ? 'mark' : 'capture',
  }
  const effects: MirrorEffect[] = state === 'duplex' ? [] : [{ type: 'recovered' }]
  // a resync the last run left: its BEGIN was durable in every sidefile before the state said resyncing; go on
  if (state === 'resyncing') effects.push({ type: 'start-runners', epoch })
  return { state: next, effects }
}

function resume(s: MachineState): Transition {
  if (s.state !== 'suspended') return unchanged(s)
  const effect: MirrorEffect = {
    type: 'append-begin',
    epoch: s.epoch + 1,
    consistentUntil: s.consistentUntil,
    reason: s.reason ?? 'operator',
    topicsRemade: s.reason === 'journal-lost',
  }
  return { state: s, effects: [effect] }
}

function beginDurable(s: MachineState, epoch: number): Transition {
  // only the BEGIN a resume asked for (the next epoch): a report of an older one is stale, and taking its epoch
  // would move the epoch back and let that epoch's END, asked before the suspension, end this window
  if (s.state !== 'suspended' || epoch !== s.epoch + 1) return unchanged(s)
  const next: MachineState = { ...s, epoch, state: 'resyncing' }
  return { state: next, effects: [{ type: 'save', record: recordOf(next) }] }
}

function resyncingSaved(s: MachineState, epoch: number, topicsRemade: boolean): Transition {
  // a suspension while the state was saved wins: it stays marking
  if (s.state !== 'resyncing' || s.epoch !== epoch) return unchanged(s)
  // one step: captures again from here, and a write now supersedes its blocks' marks
  const next: MachineState = { ...s, mode: 'capture', captureEpoch: s.captureEpoch + 1 }
  return { state: next, effects: [{ type: 'capturing', epoch, topicsRemade }] }
}

function endAppended(s: MachineState, epoch: number, endTime: number): Transition {
  if (!resyncActive(s, epoch)) return unchanged(s)
  const next: MachineState = { ...s, state: 'duplex', reason: undefined, since: undefined, consistentUntil: 0 }
  return {
    state: next,
    effects: [
      { type: 'resync-complete', epoch, endTime },
      { type: 'save', record: recordOf(next) },
    ],
  }
}

function rebase(s: MachineState, tick: () => number, now: string): Transition {
  const suspended = s.state === 'suspended' ? unchanged(s) : suspend(s, 'journal-lost', tick, now)
  // the secondary will start again from a new journal: nothing after its image can be assumed
  const next: MachineState = { ...suspended.state, reason: 'journal-lost', consistentUntil: 0 }
  return { state: next, effects: [...suspended.effects, { type: 'save', record: recordOf(next) }] }
}

/** The next state and the effects of `event` (pure). */
export function step(s: MachineState, event: MirrorEvent): Transition {
  switch (event.type) {
    case 'start':
      return start(s, event.records)
    case 'stop':
      return unchanged({ ...s, running: false })
    case 'suspend':
      return suspend(s, event.reason, event.tick, event.now)
    case 'resume':
      return resume(s)
    case 'begin-durable':
      return beginDurable(s, event.epoch)
    case 'resyncing-saved':
      return resyncingSaved(s, event.epoch, event.topicsRemade)
    case 'runners-ended':
      return event.allDone && resyncActive(s, event.epoch)
        ? { state: s, effects: [{ type: 'append-end', epoch: event.epoch }] }
        : unchanged(s)
    case 'end-appended':
      return endAppended(s, event.epoch, event.endTime)
    case 'rebase':
      return rebase(s, event.tick, event.now)
  }
}
