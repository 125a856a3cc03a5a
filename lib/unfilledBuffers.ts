/**
 * No zero-filled buffers on the hot path. kafkajs's protocol Encoder grows
 * its buffer by doubling with Buffer.alloc, and avsc reads every `bytes`
 * value (every block, in the mover and the applier) into a zero-filled
 * buffer (Buffer.alloc, through its 4 KiB pool) before it copies the bytes
 * in: memory cleared only to be overwritten, once per block per process.
 *
 * Both are fixed here by replacing the one method each (kafkajs's
 * Encoder.prototype.ensureAvailable, in the Kafka seam's kafkajsEncoder.ts;
 * avsc's Tap.prototype.readFixed) with one that takes Buffer.allocUnsafe
 * for memory it overwrites whole before
 * anything reads it: the Encoder copies what it has written so far into the
 * new buffer and exposes only `buf.slice(0, offset)`; readFixed copies the
 * `len` bytes it returns. No setting of either library does this, so the
 * patch is applied when this module loads (the process entry points import
 * it with lib/kafka/client/kafkaCrc.ts); before it patches, it checks that the
 * library methods still look as this code expects, and otherwise leaves
 * them alone (slower, never wrong): `unfilledBuffers` says which.
 */
import { createRequire } from 'node:module'
import { patchKafkajsEncoder } from './kafka/client/kafkajsEncoder.js'

const require = createRequire(import.meta.url)

interface TapLike {
  buf: Buffer
  pos: number
}

/** Which patches are in place in this process, and why one is not. */
export const unfilledBuffers: { kafkajsEncoder: boolean; avscTap: boolean; reasons: string[] } = install()

function install(): { kafkajsEncoder: boolean; avscTap: boolean; reasons: string[] } {
  const reasons: string[] = []
  const kafkajsEncoder = patch(reasons, 'kafkajs Encoder', patchKafkajsEncoder)
  const avscTap = patch(reasons, 'avsc Tap', () => {
    const { Tap } = require('avsc/lib/utils.js') as {
      Tap: { prototype: { readFixed: (len: number) => Buffer | undefined } }
    }
    const own = Tap.prototype.readFixed.toString()
    if (!own.includes('POOL.alloc(len)')) return 'readFixed changed'
    Tap.prototype.readFixed = function readFixed(this: TapLike, len: number): Buffer | undefined {
      const pos = this.pos
      this.pos += len
      if (this.pos > this.buf.length) return undefined
      const fixed = Buffer.allocUnsafe(len)
      this.buf.copy(fixed, 0, pos, pos + len)
      return fixed
    }
    return undefined
  })
  return { kafkajsEncoder, avscTap, reasons }
}

/** Runs one patch; false with its reason when it did not apply. */
function patch(reasons: string[], name: string, apply: () => string | undefined): boolean {
  try {
    const refused = apply()
    if (refused === undefined) return true
    reasons.push(`${name}: ${refused}`)
  } catch (err) {
    reasons.push(`${name}: ${(err as Error).message}`)
  }
  return false
}
