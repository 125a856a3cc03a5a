import { appendFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { isXrcError } from '../../lib/errors.js'
import { silentLogger } from '../../lib/logger.js'
import { openSidefile } from './sidefile.js'
import { encodeWindowEntry, encodeWriteEntry } from './sidefileEntry.js'
import { entryHeader } from './sidefileFormat.js'
import { scanSidefileWrites } from './sidefileScan.js'

let dir: string
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xrc-sidefile-scan-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

const write = (seq: number, kind: 'UPDATES' | 'RESYNC' = 'UPDATES') =>
  encodeWriteEntry({ seq, time: 1000 + seq, volume: 'v0', block: seq, data: Buffer.alloc(512, seq) }, kind)

it('lists the host writes of every segment, not resync reads or window events, and leaves the files as they were', async () => {
  const s = await openSidefile({ dir, maxBytes: 1 << 20, waitMs: 1000, segmentBytes: 2048, logger: silentLogger })
  for (let seq = 1; seq <= 8; seq++) {
    const p = seq === 4 ? write(seq, 'RESYNC') : write(seq)
    await s.append(p.length, () => p)
  }
  const window = encodeWindowEntry({
    nextSeq: 9,
    time: 1009,
    window: { event: 'BEGIN', epoch: 1, consistentUntil: 1000, blocks: 3, reason: 'operator' },
  })
  await s.append(window.length, () => window)
  await s.close()
  const segments = (await readdir(dir)).filter((f) => f.endsWith('.seg')).sort()
  expect(segments.length).toBeGreaterThan(1)
  // a torn tail (an entry cut off by the crash) was never acknowledged: the scan stops there, truncating nothing
  const last = join(dir, segments.at(-1) as string)
  const torn = Buffer.concat([entryHeader(write(9)), write(9)]).subarray(0, 40)
  await appendFile(last, torn)
  const size = (await readFile(last)).length

  const found = await scanSidefileWrites(dir)
  expect(found).toEqual([1, 2, 3, 5, 6, 7, 8].map((seq) => ({ seq, time: 1000 + seq })))
  expect((await readFile(last)).length).toBe(size)
})

it('finds nothing in a folder that does not exist, and names a segment damaged in the middle', async () => {
  expect(await scanSidefileWrites(join(dir, 'none'))).toEqual([])
  const good = Buffer.concat([entryHeader(write(1)), write(1)])
  const bad = Buffer.from(good)
  bad[20] = (bad[20] ?? 0) ^ 0xff
  await appendFile(join(dir, '00000000000000000000.seg'), Buffer.concat([bad, good]))
  const err = await scanSidefileWrites(dir).catch((e: unknown) => e)
  expect(isXrcError(err, 'XRC_SIDEFILE_CORRUPT')).toBe(true)
  expect((err as Error).message).toContain('00000000000000000000.seg')
})
