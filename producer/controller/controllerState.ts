/**
 * A controller's small durable state file, `state.json` in its folder:
 *
 *   lastSeq       the last seq it issued when the file was written
 *   lastTime      the time of that write
 *   timeCeiling   a time above every heartbeat time it sent
 *   redoFrom      the sidefile position from which recovery redoes entries
 *                 onto the volumes: every entry before it is on the (synced)
 *                 volumes already. Set when the session suspends, before any
 *                 write bypasses the sidefile: redoing an older entry over
 *                 such a write would take the volume back in time.
 *
 * The sidefile keeps its latest entry (trim never deletes the last
 * segment), so seqs and write times are recovered from it; the state file
 * covers what the sidefile cannot: heartbeat times, which promise that every
 * later write of the controller is later. A heartbeat is sent only when the
 * ceiling is above its time, and the clock restarts above the ceiling, so
 * that promise holds across restarts even if the wall clock is behind.
 * Written atomically (lib/stateFile.ts).
 */
import { join } from 'node:path'
import { readStateFile, writeStateFile } from '../../lib/stateFile.js'

export interface ControllerState {
  lastSeq: number
  lastTime: number
  timeCeiling: number
  redoFrom: number
}

export const INITIAL_STATE: Readonly<ControllerState> = Object.freeze({
  lastSeq: 0,
  lastTime: 0,
  timeCeiling: 0,
  redoFrom: 0,
})

/** Reads the state file of the controller folder `dir` (INITIAL_STATE when there is none). */
export function loadControllerState(dir: string): Promise<ControllerState> {
  return readStateFile(join(dir, 'state.json'), parseControllerState, () => ({ ...INITIAL_STATE }))
}

function parseControllerState(parsed: unknown): ControllerState {
  const state = { ...INITIAL_STATE, ...(parsed as Partial<ControllerState>) }
  for (const key of ['lastSeq', 'lastTime', 'timeCeiling', 'redoFrom'] as const) {
    if (!Number.isSafeInteger(state[key]) || state[key] < 0) throw new Error(`${key} is not a non-negative integer`)
  }
  return state
}

/** Replaces the state file atomically and durably. */
export function saveControllerState(dir: string, state: ControllerState): Promise<void> {
  return writeStateFile(join(dir, 'state.json'), state)
}

/** How far above a heartbeat's time the durable ceiling is set, so most heartbeats need no state write. */
export const TIME_CEILING_LEASE_US = 1_000_000

/**
 * The state file of one controller while it runs: the time ceiling a
 * heartbeat needs (`coverTime`) and the redo floor a suspend sets
 * (`checkpointRedo`), written one after the other since both rewrite the
 * same file. The seq written is always an acknowledged one (`lastSentSeq`,
 * read when the write runs): a seq taken but not yet durable must not be
 * skipped after a crash.
 */
export class ControllerStateFile {
  readonly #dir: string
  readonly #lastSentSeq: () => number
  // what the file holds
  #state: ControllerState
  #writing: Promise<void> = Promise.resolve()

  constructor(dir: string, state: ControllerState, lastSentSeq: () => number) {
    this.#dir = dir
    this.#state = { ...state }
    this.#lastSentSeq = lastSentSeq
  }

  /** Makes the durable time ceiling cover `time` (a lease of TIME_CEILING_LEASE_US above it when it must move). */
  coverTime(time: number): Promise<void> {
    return this.#chain(async () => {
      if (time < this.#state.timeCeiling) return
      await this.#save({ lastTime: time, timeCeiling: time + TIME_CEILING_LEASE_US })
    })
  }

  /**
   * Once `before` resolved (the volumes hold and have synced
   * every entry below `upTo`), raises the redo floor to `upTo`.
   */
  checkpointRedo(upTo: number, before: () => Promise<void>): Promise<void> {
    return this.#chain(async () => {
      await before()
      if (upTo <= this.#state.redoFrom) return
      await this.#save({ redoFrom: upTo })
    })
  }

  /** Resolves once every write queued so far is done; rejects with the last one's error. */
  settled(): Promise<void> {
    return this.#writing
  }

  #chain(run: () => Promise<void>): Promise<void> {
    this.#writing = this.#writing.then(run, run)
    return this.#writing
  }

  async #save(change: Partial<ControllerState>): Promise<void> {
    const next = { ...this.#state, lastSeq: this.#lastSentSeq(), ...change }
    await saveControllerState(this.#dir, next)
    this.#state = next
  }
}
