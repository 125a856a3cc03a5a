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
 * Written atomically: temp file, fsync, rename, fsync of the folder.
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises'
import { join } from 'node:path'
import { XrcError, errorMessage } from '../../lib/errors.js'
import { syncDir } from '../sidefile/index.js'

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
export async function loadControllerState(dir: string): Promise<ControllerState> {
  const path = join(dir, 'state.json')
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ...INITIAL_STATE }
    throw err
  }
  try {
    const parsed = JSON.parse(text) as Partial<ControllerState>
    const state = { ...INITIAL_STATE, ...parsed }
    for (const key of ['lastSeq', 'lastTime', 'timeCeiling', 'redoFrom'] as const) {
      if (!Number.isSafeInteger(state[key]) || state[key] < 0) throw new Error(`${key} is not a non-negative integer`)
    }
    return state
  } catch (err) {
    throw new XrcError('XRC_SIDEFILE_CORRUPT', `controller state file ${path} is damaged: ${errorMessage(err)}`, {
      cause: err,
      context: { file: path },
    })
  }
}

/** Replaces the state file atomically and durably. */
export async function saveControllerState(dir: string, state: ControllerState): Promise<void> {
  await mkdir(dir, { recursive: true })
  const path = join(dir, 'state.json')
  const tmp = `${path}.tmp`
  const fh = await open(tmp, 'w')
  try {
    await fh.writeFile(`${JSON.stringify(state)}\n`)
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, path)
  await syncDir(dir)
}
