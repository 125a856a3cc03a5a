/**
 * The checker's view of whole volume images (primary files, or images read
 * from a store): each block's head, as of a consistency time. And a write
 * log with some acknowledged writes marked as certainly not taken (lost
 * with a site), for checking the image a takeover started from.
 */
import { decodeBlockHead, type BlockHead } from '../../workload/blockContent.js'
import type { Observation } from '../../workload/checker.js'
import { blockKey, WriteLog, type WriteRecord } from '../../workload/writeLog.js'

export function observationOfImages(
  images: ReadonlyMap<string, Buffer>,
  groupTime: number,
  blockSize: number,
): Observation {
  const heads = new Map<string, BlockHead | undefined>()
  for (const [volume, image] of images) {
    for (let block = 0; block * blockSize < image.length; block++) {
      const head = decodeBlockHead(image.subarray(block * blockSize, (block + 1) * blockSize))
      if (head !== undefined) heads.set(blockKey(volume, block), head)
    }
  }
  return { groupTime, heads }
}

/** A copy of `log` (same ids) in which the writes `lost` picks are refused: certainly not in any image. */
export function logWithout(log: WriteLog, lost: (w: WriteRecord) => boolean): WriteLog {
  const copy = new WriteLog()
  for (let id = 1; id <= log.counts().total; id++) {
    const w = log.get(id)
    const c = copy.begin(w.volume, w.block, w.dependsOn)
    if (lost(w) || w.status === 'refused') copy.refused(c.id)
    else if (w.status === 'acked' && w.time !== undefined) copy.ack(c.id, w.time)
    else if (w.status === 'indoubt' || w.status === 'pending') copy.inDoubt(c.id)
  }
  return copy
}
