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
  await mkdir(dir, { recursive: true })
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
