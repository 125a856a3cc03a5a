/**
 * A primary volume: one real file of `blocks × blockSize` bytes at
 * `<dataDir>/<session>/primary/<volume>.img`, read and written with
 * pread/pwrite at block offsets. A new file is sparse (all zeros).
 *
 * The volume file is not synced on every write: the sidefile holds every
 * write until the volume is synced (see controller.ts, which syncs volumes
 * before the sidefile deletes a segment), and recovery redoes the sidefile
 * onto the volumes.
 *
 * A write of up to SYNC_WRITE_MAX_BYTES is a synchronous pwrite on the
 * calling thread: it only copies into the page cache, a few microseconds,
 * where libuv's thread pool cost a hand-off to a worker and back (two
 * context switches, expensive in a virtual machine) on every host write.
 * Larger writes, reads and syncs go through the thread pool.
 */
import { constants, writeSync } from 'node:fs'
import { mkdir, open, type FileHandle } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { XrcError } from '../../lib/errors.js'
import { DATA_DIR_MODE, DATA_FILE_MODE } from '../../lib/stateFile.js'

/** The folder of a session's primary site: volume files and per-controller state. */
export function primaryDir(dataDir: string, session: string): string {
  return join(dataDir, session, 'primary')
}

/** Path of a primary volume file. */
export function volumePath(dataDir: string, session: string, volume: string): string {
  return join(primaryDir(dataDir, session), `${volume}.img`)
}

/** Writes up to this size are synchronous pwrites (see the file comment), bytes. */
export const SYNC_WRITE_MAX_BYTES = 256 * 1024

export interface VolumeFile {
  readonly name: string
  readonly blocks: number
  readonly blockSize: number
  readonly path: string
  /** Writes whole blocks at `block`. The caller has checked the range. */
  write(block: number, data: Buffer): Promise<void>
  /** Reads `count` blocks at `block`. The caller has checked the range. */
  read(block: number, count: number): Promise<Buffer>
  /** Makes every completed write durable (fdatasync). */
  sync(): Promise<void>
  close(): Promise<void>
}

/**
 * Opens (creating when missing) a volume file. A file shorter than the
 * configured size is extended (the volume grew); a longer one is refused
 * with XRC_CONFIG_INVALID, since shrinking would drop written blocks.
 */
export async function openVolumeFile(options: {
  path: string
  name: string
  blocks: number
  blockSize: number
}): Promise<VolumeFile> {
  const { path, name, blocks, blockSize } = options
  const size = blocks * blockSize
  await mkdir(dirname(path), { recursive: true, mode: DATA_DIR_MODE })
  const fh: FileHandle = await open(path, constants.O_RDWR | constants.O_CREAT, DATA_FILE_MODE)
  try {
    const actual = (await fh.stat()).size
    if (actual > size) {
      throw new XrcError('XRC_CONFIG_INVALID', {
        reason: 'volumeFileShrinks',
        file: path,
        bytes: actual,
        blocks,
        blockSize,
        volume: name,
      })
    }
    if (actual < size) await fh.truncate(size)
  } catch (err) {
    await fh.close()
    throw err
  }
  let closed = false
  const guard = (): void => {
    if (closed) throw new XrcError('XRC_CLOSED', { reason: 'volume', volume: name })
  }

  return {
    name,
    blocks,
    blockSize,
    path,
    async write(block, data) {
      guard()
      let done = 0
      // pwrite may write less than asked; loop until all is written
      if (data.length <= SYNC_WRITE_MAX_BYTES) {
        while (done < data.length) done += writeSync(fh.fd, data, done, data.length - done, block * blockSize + done)
        return
      }
      while (done < data.length) {
        const { bytesWritten } = await fh.write(data, done, data.length - done, block * blockSize + done)
        done += bytesWritten
      }
    },
    async read(block, count) {
      guard()
      const out = Buffer.alloc(count * blockSize)
      let done = 0
      while (done < out.length) {
        const { bytesRead } = await fh.read(out, done, out.length - done, block * blockSize + done)
        if (bytesRead === 0) break // past the end: zeros, as a sparse file reads
        done += bytesRead
      }
      return out
    },
    async sync() {
      guard()
      await fh.datasync()
    },
    async close() {
      if (closed) return
      closed = true
      await fh.close()
    },
  }
}
