import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { imageChunks, type StoredBlock } from './volumeReader.js'

async function image(
  blocks: StoredBlock[],
  volumeBlocks: number,
  blockSize: number,
): Promise<{ bytes: Buffer; chunks: number[] }> {
  const chunks: Buffer[] = []
  async function* source(): AsyncGenerator<StoredBlock> {
    yield* blocks
  }
  for await (const c of imageChunks(source(), volumeBlocks, blockSize)) chunks.push(Buffer.from(c))
  return { bytes: Buffer.concat(chunks), chunks: chunks.map((c) => c.length) }
}

describe('imageChunks', () => {
  it('fills unwritten blocks with zeros and matches a model image (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 600 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        async (volumeBlocks, picks) => {
          const blockSize = 512
          const written = [...new Set(picks.map((p) => p % volumeBlocks))].sort((a, b) => a - b)
          const stored = written.map((block) => ({ block, data: Buffer.alloc(blockSize, (block % 255) + 1) }))
          const model = Buffer.alloc(volumeBlocks * blockSize)
          for (const s of stored) s.data.copy(model, s.block * blockSize)
          const { bytes } = await image(stored, volumeBlocks, blockSize)
          expect(bytes.equals(model)).toBe(true)
        },
      ),
    )
  })

  it('writes in bounded chunks: a large unwritten volume never becomes one buffer', async () => {
    const { bytes, chunks } = await image([{ block: 5000, data: Buffer.alloc(4096, 7) }], 10_000, 4096)
    expect(bytes.length).toBe(10_000 * 4096)
    expect(Math.max(...chunks)).toBeLessThanOrEqual(1024 * 1024)
  })
})
