/**
 * kafkajs checksums every record batch it produces (CRC-32C, the
 * Castagnoli polynomial) in plain JavaScript, a byte at a time: about 4 ms
 * of CPU per MiB on this project's machine, paid once in the primary and
 * once in the mover for every mirrored block. @node-rs/crc32 computes the
 * same checksum with the processor's CRC instructions, about 25 times
 * faster (BENCHMARKS.md).
 *
 * kafkajs has no setting for it, so this module puts the native function in
 * place of kafkajs's own crc32C module in the CommonJS module cache before
 * kafkajs loads its record batch encoder. It must therefore be imported
 * before anything that imports kafkajs: the process entry points
 * (cli/main.ts, the bench's stage processes) import it first. Where it is
 * too late (kafkajs's encoder already loaded) or the native package has no
 * build for the platform, kafkajs keeps its own checksum: slower, never
 * wrong. Before it swaps, it checks that both give the same checksums.
 */
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

/** kafkajs's checksum module, and the encoder that takes it when it loads. */
const CRC_MODULE = 'kafkajs/src/protocol/recordBatch/crc32C/index.js'
const ENCODER_MODULE = 'kafkajs/src/protocol/recordBatch/v0/index.js'

export type KafkaCrc = 'native' | 'javascript'

/** Which CRC-32C kafkajs produces with in this process, and why when it is its own. */
export const kafkaCrc: { impl: KafkaCrc; reason?: string } = install()

function install(): { impl: KafkaCrc; reason?: string } {
  let native: (input: Buffer) => number
  try {
    native = (require('@node-rs/crc32') as { crc32c: (input: Buffer, initial?: number) => number }).crc32c
  } catch (err) {
    return { impl: 'javascript', reason: `@node-rs/crc32 did not load: ${(err as Error).message}` }
  }
  if (require.cache[require.resolve(ENCODER_MODULE)] !== undefined)
    return { impl: 'javascript', reason: 'kafkajs was loaded before lib/kafka/client/kafkaCrc.js' }
  const path = require.resolve(CRC_MODULE)
  const own = require(path) as (input: Buffer) => number
  const samples = [
    Buffer.alloc(0),
    Buffer.from('123456789'),
    Buffer.from(Array.from({ length: 4099 }, (_, i) => (i * 7919) & 0xff)),
  ]
  for (const s of samples)
    if (native(s) !== own(s)) return { impl: 'javascript', reason: `checksums differ on ${s.length} bytes` }
  const cached = require.cache[path]
  if (cached === undefined) return { impl: 'javascript', reason: 'kafkajs crc32C module not in the module cache' }
  cached.exports = (input: Buffer): number => native(input)
  return { impl: 'native' }
}
