/**
 * The demo's final check: every volume of the secondary, as of its last
 * applied group (one snapshot for all volumes), compared byte for byte
 * with the primary's volume file.
 */
import { readFile } from 'node:fs/promises'
import type { AppliedMark, BlockStore } from '../../applier/index.js'

export interface VolumeVerdict {
  volume: string
  identical: boolean
  /** Blocks whose bytes differ (0 when identical). */
  differingBlocks: number
  bytes: number
}

export async function verifyVolumes(
  store: BlockStore,
  volumes: readonly string[],
  primaryPath: (volume: string) => string,
): Promise<{ verdicts: VolumeVerdict[]; asOf: AppliedMark | undefined }> {
  const { images, asOf } = await store.readImages(volumes)
  const verdicts: VolumeVerdict[] = []
  for (const volume of volumes) {
    const primary = await readFile(primaryPath(volume))
    const secondary = images.get(volume) ?? Buffer.alloc(0)
    let differing = 0
    const blocks = Math.ceil(Math.max(primary.length, secondary.length) / store.blockSize)
    for (let b = 0; b < blocks; b++) {
      const start = b * store.blockSize
      const end = start + store.blockSize
      if (!primary.subarray(start, end).equals(secondary.subarray(start, end))) differing++
    }
    verdicts.push({
      volume,
      identical: differing === 0 && primary.length === secondary.length,
      differingBlocks: differing,
      bytes: primary.length,
    })
  }
  return { verdicts, asOf }
}
