/**
 * Segment files of a sidefile: recovery on open, and the positioned reads
 * and writes the sidefile does on them.
 *
 * Recovery checks every entry of every segment and puts the folder back
 * into a state the sidefile can append to:
 *
 * - Empty segment files (created, then the process died before writing)
 *   are removed.
 * - A torn tail of the last segment (a partial entry, or a bad entry with
 *   nothing valid after it) is truncated: its writer was never acknowledged,
 *   since an append resolves only after fdatasync, and it was never sent,
 *   since the sender reads durable entries only.
 * - A gap between segments means the older ones were trimmed and their
 *   deletion did not survive a crash: they are removed again (redoing them
 *   would put old data back onto the volumes).
 * - Anything else (a bad entry that a valid one follows, damage in a
 *   segment before the last, overlapping segments) is XRC_SIDEFILE_CORRUPT
 *   naming the file and offset: an operator has to look, nothing is dropped.
 */
import { open, readdir, readFile, stat, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { XrcError } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import { parseSegmentFileName, scanSegment } from './sidefileFormat.js'

/** One segment file: logical positions [base, end). */
export interface Segment {
  readonly base: number
  end: number
  path: string
}

export interface RecoveredSidefile {
  /** Contiguous, sorted. */
  segments: Segment[]
  /** Logical end position of every entry, in order. */
  ends: number[]
}

/** Recovers the segments of the sidefile folder `dir` (see the module comment). */
export async function recoverSegments(dir: string, logger: Logger): Promise<RecoveredSidefile> {
  const files = (await readdir(dir))
    .map((name) => ({ name, base: parseSegmentFileName(name) }))
    .filter((f): f is { name: string; base: number } => f.base !== undefined)
    .sort((a, b) => a.base - b.base)
  let segments: { seg: Segment; ends: number[] }[] = []
  for (const [i, f] of files.entries()) {
    const path = join(dir, f.name)
    const size = (await stat(path)).size
    if (size === 0) {
      await unlink(path)
      continue
    }
    const buf = await readFile(path)
    const scan = scanSegment(buf)
    const isLast = i === files.length - 1
    if (scan.kind === 'corrupt' || (scan.kind === 'torn' && !isLast)) {
      const offset = scan.kind === 'corrupt' ? scan.offset : scan.validBytes
      throw new XrcError('XRC_SIDEFILE_CORRUPT', {
        reason: isLast ? 'segment' : 'segmentNotLast',
        file: path,
        offset: String(offset),
        problem: scan.reason,
      })
    }
    let length = buf.length
    if (scan.kind === 'torn') {
      logger.warn(
        { file: path, offset: scan.validBytes, dropped: buf.length - scan.validBytes, reason: scan.reason },
        'sidefile: truncating a torn tail (a write that was never acknowledged)',
      )
      const fh = await open(path, 'r+')
      try {
        await fh.truncate(scan.validBytes)
        await fh.datasync()
      } finally {
        await fh.close()
      }
      length = scan.validBytes
      if (length === 0) {
        await unlink(path)
        continue
      }
    }
    segments.push({ seg: { base: f.base, end: f.base + length, path }, ends: scan.ends.map((e) => f.base + e) })
  }
  // keep the last contiguous run: anything before a gap was trimmed already
  for (let i = segments.length - 1; i > 0; i--) {
    const prev = (segments[i - 1] as { seg: Segment }).seg
    const cur = (segments[i] as { seg: Segment }).seg
    if (prev.end === cur.base) continue
    if (prev.end > cur.base) {
      throw new XrcError('XRC_SIDEFILE_CORRUPT', {
        reason: 'segmentsOverlap',
        previous: prev.path,
        file: cur.path,
        previousEnd: prev.end,
        base: cur.base,
        offset: '0',
      })
    }
    const stale = segments.slice(0, i)
    logger.warn(
      { dir, files: stale.map((s) => s.seg.path) },
      'sidefile: removing segments that a trim had deleted before a crash',
    )
    for (const s of stale) await unlink(s.seg.path)
    segments = segments.slice(i)
    break
  }
  return { segments: segments.map((s) => s.seg), ends: segments.flatMap((s) => s.ends) }
}

/** Reads up to `length` bytes at `offset` of a segment file (fewer at its end). */
export async function readAt(fh: FileHandle, offset: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length)
  let done = 0
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, offset + done)
    if (bytesRead === 0) break
    done += bytesRead
  }
  return buf.subarray(0, done)
}

/** Writes `bufs` at `position`, finishing a short writev with plain writes. */
export async function writeAll(fh: FileHandle, bufs: Buffer[], position: number): Promise<void> {
  const total = bufs.reduce((n, b) => n + b.length, 0)
  const { bytesWritten } = await fh.writev(bufs, position)
  // a short writev (disk nearly full, signals) leaves the rest to plain writes
  if (bytesWritten < total) {
    const rest = Buffer.concat(bufs).subarray(bytesWritten)
    let off = 0
    while (off < rest.length) {
      const r = await fh.write(rest, off, rest.length - off, position + bytesWritten + off)
      off += r.bytesWritten
    }
  }
}
