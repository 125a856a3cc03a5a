/**
 * A drill's image, block by block: the block its overlay holds when the
 * drill wrote it, else the block of its snapshot. Pure: the store reads the
 * snapshot's blocks and the overlay's rows of a range (drills.ts), these
 * functions lay one over the other, and turn written blocks into the rows
 * the overlay keeps.
 *
 * An overlay row is (block, data): data is one whole block, or null for a
 * block of zeros (a TRIM or WRITE_ZEROES, or a write of zeros), so zeroing
 * a large range keeps no bytes.
 */

/** One block the drill wrote: its whole data, or null for zeros. */
export interface OverlayRow {
  block: number
  data: Buffer | null
}

/**
 * Blocks [first, first + count) of the drill's image: `base` (the
 * snapshot's count × blockSize bytes) with every overlay row of the range
 * laid over it. Rows outside the range or of the wrong size are a
 * RangeError (a store that returns them is broken). `base` is not changed.
 */
export function mergeOverlay(
  base: Buffer,
  first: number,
  count: number,
  blockSize: number,
  rows: readonly OverlayRow[],
): Buffer {
  if (base.length !== count * blockSize)
    throw new RangeError(`the base holds ${base.length} bytes, not ${count} blocks of ${blockSize}`)
  if (rows.length === 0) return base
  const out = Buffer.from(base)
  for (const r of rows) {
    const at = r.block - first
    if (!Number.isInteger(at) || at < 0 || at >= count)
      throw new RangeError(`overlay block ${r.block} is outside blocks ${first}..${first + count - 1}`)
    if (r.data === null) out.fill(0, at * blockSize, (at + 1) * blockSize)
    else if (r.data.length !== blockSize)
      throw new RangeError(`overlay block ${r.block} holds ${r.data.length} bytes, not ${blockSize}`)
    else r.data.copy(out, at * blockSize)
  }
  return out
}

/** True when every byte of `b` is zero. */
function allZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false
  return true
}

/**
 * The overlay rows of whole blocks written at `first`: one per block, null
 * for a block of zeros. `blocks` is a whole number of blocks.
 */
export function overlayRowsOf(first: number, blocks: Buffer, blockSize: number): OverlayRow[] {
  if (blocks.length % blockSize !== 0)
    throw new RangeError(`${blocks.length} bytes is not a whole number of ${blockSize}-byte blocks`)
  const rows: OverlayRow[] = []
  for (let i = 0; i * blockSize < blocks.length; i++) {
    const data = blocks.subarray(i * blockSize, (i + 1) * blockSize)
    rows.push({ block: first + i, data: allZero(data) ? null : Buffer.from(data) })
  }
  return rows
}
