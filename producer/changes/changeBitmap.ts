/**
 * Change bitmap of one volume (the "update map" / hardware bitmap of the
 * patents): one bit per block, set when the block changes while the mirror
 * cannot take the write, cleared when resync has sent the block. Pure; the
 * caller persists it (see changeFiles.ts) so a crash loses no mark.
 */
export class ChangeBitmap {
  readonly blocks: number
  private readonly bits: Uint8Array
  private setCount = 0

  constructor(blocks: number, bits?: Uint8Array) {
    if (!Number.isInteger(blocks) || blocks < 0)
      throw new RangeError(`blocks must be a non-negative integer, got ${blocks}`)
    this.blocks = blocks
    const bytes = Math.ceil(blocks / 8)
    if (bits !== undefined && bits.length !== bytes)
      throw new RangeError(`bitmap of ${blocks} blocks needs ${bytes} bytes, got ${bits.length}`)
    this.bits = bits ? Uint8Array.from(bits) : new Uint8Array(bytes)
    if (bits) for (let b = 0; b < blocks; b++) if (this.has(b)) this.setCount++
  }

  /** Marks blocks [block, block + count). Returns how many were newly marked. */
  mark(block: number, count = 1): number {
    this.checkRange(block, count)
    let added = 0
    for (let b = block; b < block + count; b++) {
      const i = b >>> 3
      const m = 1 << (b & 7)
      if (((this.bits[i] ?? 0) & m) === 0) {
        this.bits[i] = (this.bits[i] ?? 0) | m
        added++
      }
    }
    this.setCount += added
    return added
  }

  /** Clears blocks [block, block + count). Returns how many were cleared. */
  clear(block: number, count = 1): number {
    this.checkRange(block, count)
    let removed = 0
    for (let b = block; b < block + count; b++) {
      const i = b >>> 3
      const m = 1 << (b & 7)
      if (((this.bits[i] ?? 0) & m) !== 0) {
        this.bits[i] = (this.bits[i] ?? 0) & ~m
        removed++
      }
    }
    this.setCount -= removed
    return removed
  }

  has(block: number): boolean {
    return (((this.bits[block >>> 3] ?? 0) >>> (block & 7)) & 1) === 1
  }

  /** Number of marked blocks. */
  get count(): number {
    return this.setCount
  }

  /** Marked blocks in increasing order. */
  *marked(): IterableIterator<number> {
    for (let i = 0; i < this.bits.length; i++) {
      const byte = this.bits[i] ?? 0
      if (byte === 0) continue
      for (let j = 0; j < 8; j++) if ((byte >>> j) & 1) yield i * 8 + j
    }
  }

  /** The first marked block at or after `from`, or undefined. */
  nextMarked(from: number): number | undefined {
    for (let b = Math.max(0, from); b < this.blocks;) {
      const byte = this.bits[b >>> 3] ?? 0
      if (byte === 0 && (b & 7) === 0) {
        b += 8 // skip a clear byte whole
        continue
      }
      if ((byte >>> (b & 7)) & 1) return b
      b++
    }
    return undefined
  }

  /** A copy of bitmap bytes [from, to) (byte indexes), for writing a changed range in place. */
  byteRange(from: number, to: number): Buffer {
    return Buffer.from(this.bits.subarray(from, to))
  }

  /** Bytes the bitmap occupies on disk. */
  get byteLength(): number {
    return this.bits.length
  }

  /** Clears every block. */
  reset(): void {
    this.bits.fill(0)
    this.setCount = 0
  }

  /** Marks every block marked in `other` (same size). */
  union(other: ChangeBitmap): void {
    if (other.blocks !== this.blocks) throw new RangeError(`bitmap sizes differ: ${this.blocks} and ${other.blocks}`)
    let count = 0
    for (let i = 0; i < this.bits.length; i++) {
      this.bits[i] = (this.bits[i] ?? 0) | (other.bits[i] ?? 0)
    }
    for (let b = 0; b < this.blocks; b++) if (this.has(b)) count++
    this.setCount = count
  }

  toBuffer(): Buffer {
    return Buffer.from(this.bits)
  }

  private checkRange(block: number, count: number): void {
    if (!Number.isInteger(block) || !Number.isInteger(count) || block < 0 || count < 0 || block + count > this.blocks) {
      throw new RangeError(`blocks [${block}, ${block + count}) outside a volume of ${this.blocks} blocks`)
    }
  }
}
