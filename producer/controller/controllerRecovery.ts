/**
 * A controller's recovery on open: every sidefile entry from the redo floor
 * on is redone onto the volume files, in seq order (a crash may have come
 * between an entry's append and its volume write; writing it again is
 * harmless). Entries before the floor are on the synced volumes already, and
 * a write made while suspended (not in the sidefile) may have overwritten
 * them since: redoing them would take the volume back in time. Resync
 * entries are not redone: their data came from the volume, and later
 * entries are redone after them anyway. Every entry's blocks are reported
 * to the mirror, since the entries are sent again after the restart. A
 * resync window event (no data, no seq of its own) only keeps the seqs and
 * times in order: it names the next seq, and its time counts for the clock.
 */
import { XrcError } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import type { ControllerOptions } from './controller.js'
import type { Sidefile } from '../sidefile/index.js'
import { decodeEntry } from '../sidefile/index.js'
import type { VolumeFile } from './volumeFile.js'

/**
 * Checks that seqs are contiguous and times non-decreasing (XRC_SIDEFILE_CORRUPT
 * otherwise) and that every entry fits the configured volumes
 * (XRC_CONFIG_INVALID). Returns the first and last seq and the last time.
 */
export async function redoSidefile(
  sidefile: Sidefile,
  volumes: Map<string, VolumeFile>,
  options: Pick<ControllerOptions, 'id' | 'blockSize' | 'mirror'>,
  log: Logger,
  redoFrom = 0,
): Promise<{ firstSeq: number | undefined; lastSeq: number; lastTime: number }> {
  let pos = sidefile.stats().start
  let firstSeq: number | undefined
  let lastSeq = 0
  let lastTime = 0
  let count = 0
  for (;;) {
    const entries = await sidefile.read(pos, { maxEntries: 1024, maxBytes: 8 * 1024 * 1024 })
    if (entries.length === 0) break
    for (const e of entries) {
      const where = `${sidefile.dir} position ${e.position}`
      const decoded = decodeEntry(e.payload, where)
      if (decoded.kind === 'WINDOW') {
        // a resync window event takes no seq: it names the next one, and keeps the stream's time order
        const w = decoded.entry
        if (firstSeq !== undefined && (w.nextSeq !== lastSeq + 1 || w.time < lastTime)) {
          throw new XrcError('XRC_SIDEFILE_CORRUPT', {
            reason: 'windowOrder',
            where,
            seq: w.nextSeq,
            time: w.time,
            lastSeq,
            lastTime,
            controller: options.id,
          })
        }
        firstSeq ??= w.nextSeq
        lastSeq = w.nextSeq - 1
        lastTime = w.time
        count++
        pos = e.end
        continue
      }
      const { kind, update: u } = decoded
      if (firstSeq !== undefined && (u.seq !== lastSeq + 1 || u.time < lastTime)) {
        throw new XrcError('XRC_SIDEFILE_CORRUPT', {
          reason: 'entryOrder',
          where,
          seq: u.seq,
          time: u.time,
          lastSeq,
          lastTime,
          controller: options.id,
        })
      }
      const v = volumes.get(u.volume)
      if (
        v === undefined ||
        u.data.length % options.blockSize !== 0 ||
        u.block + u.data.length / options.blockSize > v.blocks
      ) {
        throw new XrcError('XRC_CONFIG_INVALID', {
          reason: 'sidefileVolumeGone',
          where,
          volume: u.volume,
          block: u.block,
          controller: options.id,
        })
      }
      if (kind === 'UPDATES' && e.position >= redoFrom) await v.write(u.block, u.data)
      options.mirror?.recovered(u.volume, u.block, u.data.length / options.blockSize)
      firstSeq ??= u.seq
      lastSeq = u.seq
      lastTime = u.time
      count++
      pos = e.end
    }
  }
  if (count > 0)
    log.info(
      { entries: count, firstSeq, lastSeq },
      'sidefile recovered and redone onto the volumes; its entries will be sent again',
    )
  return { firstSeq, lastSeq, lastTime }
}
