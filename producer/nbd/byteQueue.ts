/**
 * Bytes received and not yet consumed, kept as the chunks the socket
 * delivered: a message is copied into one buffer only when it spans chunks,
 * and at most once however many chunks it arrives in.
 */
export class ByteQueue {
  private chunks: Buffer[] = []
  private total = 0

  get length(): number {
    return this.total
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.total += chunk.length
  }

  /** The first `n` bytes (n <= length) in one buffer, without consuming them. */
  peek(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0)
    const first = this.chunks[0]
    if (first && first.length >= n) return first.subarray(0, n)
    // join just enough chunks to hold n bytes, and keep them joined
    let joined = 0
    let k = 0
    while (joined < n && k < this.chunks.length) joined += (this.chunks[k++] as Buffer).length
    const merged = Buffer.concat(this.chunks.slice(0, k), joined)
    this.chunks.splice(0, k, merged)
    return merged.subarray(0, n)
  }

  /** Consumes and returns the first `n` bytes (n <= length). */
  take(n: number): Buffer {
    const out = this.peek(n)
    this.skip(n)
    return out
  }

  /** Consumes up to `n` bytes; returns how many. */
  skip(n: number): number {
    let left = Math.min(n, this.total)
    const skipped = left
    while (left > 0) {
      const first = this.chunks[0] as Buffer
      if (first.length <= left) {
        this.chunks.shift()
        left -= first.length
      } else {
        this.chunks[0] = first.subarray(left)
        left = 0
      }
    }
    this.total -= skipped
    return skipped
  }

  clear(): void {
    this.chunks = []
    this.total = 0
  }
}
