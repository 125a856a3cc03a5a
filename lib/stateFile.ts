/**
 * Small durable state files (a controller's `state.json`, its
 * `mirror.json`): JSON written atomically and durably (temp file, fsync,
 * rename, fsync of the folder), so a crash leaves the old file or the new
 * one, never a mix. A file that is there but does not parse or validate is
 * XRC_SIDEFILE_CORRUPT naming the file; a missing file reads as the
 * caller's default.
 */
import { constants } from 'node:fs'
import { mkdir, open, readFile, rename } from 'node:fs/promises'
import { dirname } from 'node:path'
import { XrcError } from './errors.js'

/**
 * Mode of every file the primary keeps (volumes, sidefiles, change bitmaps,
 * state files): they hold the hosts' blocks, so only the primary's user
 * reads them. A file made before this mode was set keeps its own
 * (chmod -R go-rwx the data folder); a state file gets it on its next write.
 */
export const DATA_FILE_MODE = 0o600
/** Mode of the folders the primary creates for its files. */
export const DATA_DIR_MODE = 0o700

/** fsync of a folder, so a file created, renamed or deleted in it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY)
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/**
 * Reads the JSON state file at `path`: `fallback()` when there is none;
 * `validate` turns the parsed value into the state or throws (its message
 * names what is wrong).
 */
export async function readStateFile<T>(path: string, validate: (parsed: unknown) => T, fallback: () => T): Promise<T> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return fallback()
    throw err
  }
  try {
    return validate(JSON.parse(text))
  } catch (err) {
    throw new XrcError('XRC_SIDEFILE_CORRUPT', { reason: 'stateFile', file: path, cause: err })
  }
}

/** Replaces the state file at `path` atomically and durably (its folder is created when missing). */
export async function writeStateFile(path: string, state: unknown): Promise<void> {
  const dir = dirname(path)
  await mkdir(dir, { recursive: true, mode: DATA_DIR_MODE })
  const tmp = `${path}.tmp`
  const fh = await open(tmp, 'w', DATA_FILE_MODE)
  try {
    // a temp file left by a crash keeps its old mode through 'w'
    await fh.chmod(DATA_FILE_MODE)
    await fh.writeFile(`${JSON.stringify(state)}\n`)
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, path)
  await syncDir(dir)
}
