/**
 * Where a controller's change bitmaps live on the primary, in
 * `<controllerDir>/changes/`:
 *
 *   <volume>.pending   the resync bitmap of one volume: raw bitmap bytes,
 *                      bit b of byte b >> 3 set = block b changed while the
 *                      session was suspended and not yet resynced. Updated in
 *                      place: a mark is durable (pwrite of the bytes that
 *                      changed, then fdatasync) before the write that made it
 *                      is acknowledged; concurrent marks share one fdatasync.
 *                      Clears are written with the next flush: a clear that
 *                      a crash loses only copies a block once more.
 *   generations.bin    the two change-management generations (see
 *                      changeGenerations.ts), replaced atomically (temp file,
 *                      fsync, rename, fsync of the folder):
 *       bytes 0-3   magic "XRCG"      4    version 1
 *       5-12        olderStart (uint64 BE)   13-20  newerStart
 *       21-24       volume count n
 *       n times:    name length (1 byte), name, blocks (uint32 BE),
 *                   older bitmap, newer bitmap (ceil(blocks / 8) bytes each)
 *       last 4      CRC-32 of everything before it
 */
import { constants } from 'node:fs'
import { mkdir, open, readFile, rename, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { XrcError } from '../../lib/errors.js'
import { ChangeBitmap } from './changeBitmap.js'
import type { GenerationsState } from './changeGenerations.js'
import { createGroupCommit } from '../sidefile/index.js'
import { DATA_DIR_MODE, DATA_FILE_MODE, syncDir } from '../../lib/stateFile.js'

const MAGIC = 0x58524347 // "XRCG"
const VERSION = 1

export function changesDir(controllerDir: string): string {
  return join(controllerDir, 'changes')
}

/** The resync bitmaps of a controller's volumes, durable on the primary. */
export interface PendingFiles {
  readonly bitmaps: ReadonlyMap<string, ChangeBitmap>
  /** Marks blocks now (in memory); resolves once the mark is on disk. */
  mark(volume: string, block: number, count: number): Promise<void>
  /** Clears blocks now (in memory); written with the next flush. */
  clear(volume: string, block: number, count: number): void
  /** Writes every changed byte and syncs. */
  flush(): Promise<void>
  close(): Promise<void>
}

interface PendingFile {
  fh: FileHandle
  bitmap: ChangeBitmap
  /** Changed byte range not yet written: [lo, hi). */
  lo: number
  hi: number
}

/** Opens (creating or growing) the pending bitmap file of every volume. */
export async function openPendingFiles(
  dir: string,
  volumes: readonly { name: string; blocks: number }[],
): Promise<PendingFiles> {
  await mkdir(dir, { recursive: true, mode: DATA_DIR_MODE })
  const files = new Map<string, PendingFile>()
  try {
    for (const v of volumes) {
      const path = join(dir, `${v.name}.pending`)
      const fh = await open(path, constants.O_RDWR | constants.O_CREAT, DATA_FILE_MODE)
      const bytes = Math.ceil(v.blocks / 8)
      const raw = Buffer.alloc(bytes)
      const { bytesRead } = await fh.read(raw, 0, bytes, 0)
      if ((await fh.stat()).size > bytes) {
        await fh.close()
        throw new XrcError('XRC_CONFIG_INVALID', {
          reason: 'bitmapShrinks',
          file: path,
          volume: v.name,
          blocks: v.blocks,
        })
      }
      if (bytesRead < bytes) await fh.truncate(bytes)
      // bits past the volume's last block are never set by mark(); drop any a damaged file holds
      const bitmap = new ChangeBitmap(v.blocks)
      for (let b = 0; b < v.blocks; b++) if ((raw[b >>> 3] as number) & (1 << (b & 7))) bitmap.mark(b)
      files.set(v.name, { fh, bitmap, lo: bytes, hi: 0 })
    }
    await syncDir(dir)
  } catch (err) {
    for (const f of files.values()) await f.fh.close()
    throw err
  }

  let closed = false

  const fileOf = (volume: string): PendingFile => {
    const f = files.get(volume)
    if (f === undefined) throw new RangeError(`volume ${volume} has no pending bitmap`)
    return f
  }
  const touch = (f: PendingFile, block: number, count: number): void => {
    f.lo = Math.min(f.lo, block >>> 3)
    f.hi = Math.max(f.hi, ((block + count - 1) >>> 3) + 1)
  }

  async function writeDirty(): Promise<void> {
    const touched: PendingFile[] = []
    for (const f of files.values()) {
      if (f.hi <= f.lo) continue
      const { lo, hi } = f
      f.lo = f.bitmap.byteLength
      f.hi = 0
      // the bytes as they are now: marks and clears made so far, all of which may reach the disk
      const bytes = f.bitmap.byteRange(lo, hi)
      let done = 0
      while (done < bytes.length) done += (await f.fh.write(bytes, done, bytes.length - done, lo + done)).bytesWritten
      touched.push(f)
    }
    await Promise.all(touched.map((f) => f.fh.datasync()))
  }

  // a flush asked for while one runs waits for the next, which takes every byte changed meanwhile
  const commit = createGroupCommit(writeDirty)
  const flush = (): Promise<void> =>
    closed ? Promise.reject(new XrcError('XRC_CLOSED', { reason: 'changeBitmaps', dir })) : commit()

  return {
    bitmaps: new Map([...files].map(([name, f]) => [name, f.bitmap])),
    mark(volume, block, count) {
      const f = fileOf(volume)
      f.bitmap.mark(block, count)
      touch(f, block, count)
      return flush()
    },
    clear(volume, block, count) {
      const f = fileOf(volume)
      if (f.bitmap.clear(block, count) > 0) touch(f, block, count)
    },
    flush,
    async close() {
      if (closed) return
      await flush().catch((err: unknown) => {
        throw new XrcError('XRC_SIDEFILE_CORRUPT', { reason: 'bitmapWrite', dir, cause: err })
      })
      closed = true
      for (const f of files.values()) await f.fh.close()
    },
  }
}

/** Encodes the generations (see the file comment). */
export function encodeGenerations(state: Readonly<GenerationsState>): Buffer {
  const parts: Buffer[] = []
  const head = Buffer.alloc(25)
  head.writeUInt32BE(MAGIC, 0)
  head.writeUInt8(VERSION, 4)
  head.writeBigUInt64BE(BigInt(state.olderStart), 5)
  head.writeBigUInt64BE(BigInt(state.newerStart), 13)
  head.writeUInt32BE(state.newer.size, 21)
  parts.push(head)
  for (const [name, newer] of state.newer) {
    const older = state.older.get(name) ?? new ChangeBitmap(newer.blocks)
    const n = Buffer.from(name, 'latin1')
    const vh = Buffer.alloc(1 + n.length + 4)
    vh.writeUInt8(n.length, 0)
    n.copy(vh, 1)
    vh.writeUInt32BE(newer.blocks, 1 + n.length)
    parts.push(vh, older.toBuffer(), newer.toBuffer())
  }
  const body = Buffer.concat(parts)
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body), 0)
  return Buffer.concat([body, crc])
}

/** Decodes a generations file; throws XRC_SIDEFILE_CORRUPT naming `where` when it is damaged. */
export function decodeGenerations(buf: Buffer, where: string): GenerationsState {
  const bad = (why: string): XrcError =>
    new XrcError('XRC_SIDEFILE_CORRUPT', { reason: 'generationsFile', file: where, problem: why })
  if (buf.length < 29) throw bad('too short')
  if (buf.readUInt32BE(buf.length - 4) !== crc32(buf.subarray(0, buf.length - 4))) throw bad('CRC mismatch')
  if (buf.readUInt32BE(0) !== MAGIC || buf.readUInt8(4) !== VERSION) throw bad('unknown magic or version')
  const state: GenerationsState = {
    olderStart: Number(buf.readBigUInt64BE(5)),
    newerStart: Number(buf.readBigUInt64BE(13)),
    older: new Map(),
    newer: new Map(),
  }
  let at = 25
  const count = buf.readUInt32BE(21)
  for (let i = 0; i < count; i++) {
    const len = buf.readUInt8(at)
    const name = buf.toString('latin1', at + 1, at + 1 + len)
    const blocks = buf.readUInt32BE(at + 1 + len)
    const bytes = Math.ceil(blocks / 8)
    at += 5 + len
    if (at + 2 * bytes > buf.length - 4) throw bad(`volume ${name} is cut off`)
    state.older.set(name, new ChangeBitmap(blocks, buf.subarray(at, at + bytes)))
    state.newer.set(name, new ChangeBitmap(blocks, buf.subarray(at + bytes, at + 2 * bytes)))
    at += 2 * bytes
  }
  return state
}

/**
 * Loads the generations file, keeping only volumes configured with the same
 * size (a volume that changed size starts empty: its marks no longer name
 * the same blocks). Undefined when there is none.
 */
export async function loadGenerations(
  dir: string,
  volumes: readonly { name: string; blocks: number }[],
): Promise<GenerationsState | undefined> {
  const path = join(dir, 'generations.bin')
  let buf: Buffer
  try {
    buf = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  const state = decodeGenerations(buf, path)
  const sizes = new Map(volumes.map((v) => [v.name, v.blocks]))
  for (const map of [state.older, state.newer]) {
    for (const [name, bm] of map) if (sizes.get(name) !== bm.blocks) map.delete(name)
  }
  return state
}

/** Replaces the generations file atomically and durably. */
export async function saveGenerations(dir: string, state: Readonly<GenerationsState>): Promise<void> {
  await mkdir(dir, { recursive: true, mode: DATA_DIR_MODE })
  const path = join(dir, 'generations.bin')
  const tmp = `${path}.tmp`
  const fh = await open(tmp, 'w', DATA_FILE_MODE)
  try {
    // a temp file left by a crash keeps its old mode through 'w'
    await fh.chmod(DATA_FILE_MODE)
    await fh.writeFile(encodeGenerations(state))
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, path)
  await syncDir(dir)
}
