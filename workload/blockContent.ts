/**
 * Self-identifying block contents for workloads and checkers: from the first
 * bytes of a block on the secondary, a checker knows which write put it
 * there and which earlier write it depends on.
 *
 * Layout (little-endian, blockSize >= 512):
 *   0   4  magic "XRCW"
 *   4   8  writeId (uint64; per block, later writes have larger ids)
 *  12   4  dependency: block of the write this one depends on (0xffffffff: none)
 *  16   8  dependency: writeId of that write
 *  24   1  dependency: volume name length n (<= 63)
 *  25   n  dependency: volume name (utf8)
 *  88   .  filler derived from writeId, so every write's bytes differ
 */
export const HEAD_BYTES = 88
const MAGIC = 0x57435258 // "XRCW" read little-endian
const NO_DEP = 0xffffffff

export interface WriteDependency {
  volume: string
  block: number
  writeId: number
}

export interface BlockHead {
  writeId: number
  dependsOn?: WriteDependency
}

/** The bytes of one block written by write `writeId`. */
export function encodeBlock(blockSize: number, writeId: number, dependsOn?: WriteDependency): Buffer {
  const buf = Buffer.allocUnsafe(blockSize)
  buf.writeUInt32LE(MAGIC, 0)
  buf.writeBigUInt64LE(BigInt(writeId), 4)
  if (dependsOn) {
    const name = Buffer.from(dependsOn.volume, 'utf8')
    if (name.length > 63) throw new RangeError(`volume name too long for a block head: ${dependsOn.volume}`)
    buf.writeUInt32LE(dependsOn.block, 12)
    buf.writeBigUInt64LE(BigInt(dependsOn.writeId), 16)
    buf.writeUInt8(name.length, 24)
    name.copy(buf, 25)
    buf.fill(0, 25 + name.length, HEAD_BYTES)
  } else {
    buf.writeUInt32LE(NO_DEP, 12)
    buf.fill(0, 16, HEAD_BYTES)
  }
  // xorshift filler seeded by the write id: cheap, and unique per write
  let x = (writeId * 2654435761) >>> 0 || 1
  for (let i = HEAD_BYTES; i + 4 <= blockSize; i += 4) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    buf.writeUInt32LE(x >>> 0, i)
  }
  return buf
}

/** Decodes a block head; undefined for a block no workload wrote (zeros, or foreign data). */
export function decodeBlockHead(buf: Buffer): BlockHead | undefined {
  if (buf.length < HEAD_BYTES || buf.readUInt32LE(0) !== MAGIC) return undefined
  const writeId = Number(buf.readBigUInt64LE(4))
  const depBlock = buf.readUInt32LE(12)
  if (depBlock === NO_DEP) return { writeId }
  const n = buf.readUInt8(24)
  return {
    writeId,
    dependsOn: { volume: buf.toString('utf8', 25, 25 + n), block: depBlock, writeId: Number(buf.readBigUInt64LE(16)) },
  }
}
