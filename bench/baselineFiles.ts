/**
 * The write path without mirroring, for comparison: the same writes to plain
 * files laid out like the primary's volume files, each made durable the way
 * a storage stack without a sidefile would (pwrite, then fdatasync before
 * the write is acknowledged). The mirrored path is durable too: its
 * sidefile entry is fdatasync'ed before the acknowledgement.
 */
import { constants } from 'node:fs'
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import type { WriteFn, Workload } from './loadGenerator.js'

/** Plain files standing in for the volumes, written without mirroring. */
export interface BaselineFiles {
  /** Writes workload write i (pwrite + fdatasync); resolves with NaN (there is no session clock here). */
  write: WriteFn
  /** Closes and deletes the files. */
  close(): Promise<void>
}

/** Creates one sparse file per volume under `dir`. */
export async function openBaselineFiles(options: {
  dir: string
  volumes: readonly { name: string; blocks: number }[]
  blockSize: number
  workload: Workload
}): Promise<BaselineFiles> {
  const { dir, blockSize, workload } = options
  await mkdir(dir, { recursive: true })
  const files = new Map<string, FileHandle>()
  for (const v of options.volumes) {
    const fh = await open(join(dir, `${v.name}.img`), constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC, 0o644)
    await fh.truncate(v.blocks * blockSize)
    files.set(v.name, fh)
  }
  return {
    async write(i) {
      const { volume, block } = workload.target(i)
      const data = workload.data(i)
      const fh = files.get(volume) as FileHandle
      let done = 0
      while (done < data.length)
        done += (await fh.write(data, done, data.length - done, block * blockSize + done)).bytesWritten
      await fh.datasync()
      return Number.NaN
    },
    async close() {
      for (const fh of files.values()) await fh.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
}
