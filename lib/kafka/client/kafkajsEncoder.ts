/**
 * kafkajs's protocol Encoder grows its buffer by doubling with Buffer.alloc:
 * memory cleared only to be overwritten, on every request it encodes. This
 * replaces its one method (Encoder.prototype.ensureAvailable) with one that
 * takes Buffer.allocUnsafe and copies what was written so far; the Encoder
 * exposes only `buf.slice(0, offset)`, so nothing unwritten is ever read.
 * lib/unfilledBuffers.ts applies it with avsc's, at process start.
 */
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

interface EncoderLike {
  buf: Buffer
  offset: number
}

/** Patches kafkajs's Encoder; the reason it did not, when its method no longer looks as this code expects. */
export function patchKafkajsEncoder(): string | undefined {
  const Encoder = require('kafkajs/src/protocol/encoder.js') as {
    prototype: { ensureAvailable: (length: number) => void }
    nextPowerOfTwo: (n: number) => number
  }
  const own = Encoder.prototype.ensureAvailable.toString()
  if (!own.includes('Buffer.alloc(newLength)')) return 'ensureAvailable changed'
  Encoder.prototype.ensureAvailable = function ensureAvailable(this: EncoderLike, length: number): void {
    if (this.offset + length <= this.buf.length) return
    const grown = Buffer.allocUnsafe(Encoder.nextPowerOfTwo(this.offset + length))
    this.buf.copy(grown, 0, 0, this.offset)
    this.buf = grown
  }
  return undefined
}
