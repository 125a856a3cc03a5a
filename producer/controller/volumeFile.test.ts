import { readFileSync } from 'node:fs'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { isXrcError } from '../../lib/errors.js'
import { SYNC_WRITE_MAX_BYTES, openVolumeFile, volumePath } from './volumeFile.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xrc-volume-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

it('creates a sparse file of blocks × blockSize, writes and reads whole blocks at their offsets', async () => {
  const path = volumePath(dir, 'sess', 'vol0')
  expect(path).toBe(join(dir, 'sess', 'primary', 'vol0.img'))
  const v = await openVolumeFile({ path, name: 'vol0', blocks: 8, blockSize: 512 })
  expect((await stat(path)).size).toBe(8 * 512)
  await v.write(3, Buffer.alloc(1024, 7))
  await v.sync()
  const back = await v.read(2, 4)
  expect([...back.subarray(0, 512)].every((b) => b === 0)).toBe(true)
  expect([...back.subarray(512, 1536)].every((b) => b === 7)).toBe(true)
  await v.close()
  await expect(v.read(0, 1)).rejects.toThrow(/closed/)
})

it('extends a file when the volume grew, and refuses to shrink one', async () => {
  const path = volumePath(dir, 'sess', 'vol0')
  await (await openVolumeFile({ path, name: 'vol0', blocks: 4, blockSize: 512 })).close()
  await (await openVolumeFile({ path, name: 'vol0', blocks: 6, blockSize: 512 })).close()
  expect((await stat(path)).size).toBe(6 * 512)
  const err = await openVolumeFile({ path, name: 'vol0', blocks: 5, blockSize: 512 }).catch((e: unknown) => e)
  expect(isXrcError(err, 'XRC_CONFIG_INVALID')).toBe(true)
  expect((err as Error).message).toContain('refusing to shrink')
})

it('writes small blocks synchronously and large ones through the thread pool, the same bytes either way', async () => {
  const path = volumePath(dir, 'sess', 'vol0')
  const blockSize = 4096
  const big = SYNC_WRITE_MAX_BYTES / blockSize + 2
  const v = await openVolumeFile({ path, name: 'vol0', blocks: 2 * big, blockSize })
  const small = Buffer.alloc(SYNC_WRITE_MAX_BYTES, 1) // at the bound: synchronous
  const large = Buffer.alloc(big * blockSize, 2) // past it
  // the synchronous one is in the file as soon as write() returns its promise, before any await
  const pending = v.write(0, small)
  expect(
    readFileSync(path)
      .subarray(0, small.length)
      .every((b) => b === 1),
  ).toBe(true)
  await pending
  await v.write(big, large)
  const back = await v.read(0, 2 * big)
  expect(back.subarray(0, small.length).equals(small)).toBe(true)
  expect(back.subarray(small.length, big * blockSize).every((b) => b === 0)).toBe(true)
  expect(back.subarray(big * blockSize).equals(large)).toBe(true)
  await v.close()
  await expect(v.write(0, small)).rejects.toThrow(/closed/)
})
