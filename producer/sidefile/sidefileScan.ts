/**
 * A read-only look at a sidefile left by a primary that died (the failover
 * counts the acknowledged writes its site lost): the host writes its
 * segments still hold, with their seq and time. Nothing is truncated or
 * repaired, unlike recovery (the files stay as the site left them); a torn
 * tail ends the scan of its segment (its entry was never acknowledged), a
 * corrupt middle is XRC_SIDEFILE_CORRUPT naming the file.
 */
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { XrcError } from '../../lib/errors.js'
import { decodeEntry } from './sidefileEntry.js'
import { ENTRY_HEADER_BYTES, parseSegmentFileName, scanSegment } from './sidefileFormat.js'

/** A host write a sidefile holds. */
export interface SidefileWrite {
  seq: number
  time: number
}

/** The host writes (not resync reads, not window events) in the sidefile folder `dir`; [] when there is none. */
export async function scanSidefileWrites(dir: string): Promise<SidefileWrite[]> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  const out: SidefileWrite[] = []
  for (const name of names.filter((n) => parseSegmentFileName(n) !== undefined).sort()) {
    const file = join(dir, name)
    const buf = await readFile(file)
    const scan = scanSegment(buf)
    if (scan.kind === 'corrupt')
      throw new XrcError('XRC_SIDEFILE_CORRUPT', { reason: 'segment', file, offset: scan.offset, problem: scan.reason })
    let start = 0
    for (const end of scan.ends) {
      const entry = decodeEntry(buf.subarray(start + ENTRY_HEADER_BYTES, end), `${file}@${start}`)
      if (entry.kind === 'UPDATES') out.push({ seq: entry.update.seq, time: entry.update.time })
      start = end
    }
  }
  return out
}
