import { mkdtemp, readdir, readFile, rm, stat, truncate, writeFile, appendFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isXrcError } from '../../lib/errors.js'
import { silentLogger } from '../../lib/logger.js'
import { openSidefile, type Sidefile, type SidefileFullEvent, type SidefileOptions } from './sidefile.js'
import { ENTRY_HEADER_BYTES, entryHeader, scanSegment, segmentFileName } from './sidefileFormat.js'

let dir: string
const open: Sidefile[] = []

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xrc-sidefile-'))
})
afterEach(async () => {
  for (const s of open.splice(0)) await s.close()
  await rm(dir, { recursive: true, force: true })
})

async function sidefile(options: Partial<SidefileOptions> = {}): Promise<Sidefile> {
  const s = await openSidefile({
    dir,
    maxBytes: 1 << 20,
    waitMs: 1000,
    segmentBytes: 64 * 1024,
    logger: silentLogger,
    ...options,
  })
  open.push(s)
  return s
}

const payload = (i: number, size = 100): Buffer => Buffer.alloc(size, i % 256)
const append = (s: Sidefile, p: Buffer): Promise<void> => s.append(p.length, () => p)

async function readAll(s: Sidefile): Promise<Buffer[]> {
  const out: Buffer[] = []
  let pos = s.stats().start
  for (;;) {
    const entries = await s.read(pos, { maxEntries: 7, maxBytes: 1000 })
    if (entries.length === 0) return out
    for (const e of entries) out.push(e.payload)
    pos = (entries.at(-1) as { end: number }).end
  }
}

async function segmentFiles(): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith('.seg')).sort()
}

async function reopen(s: Sidefile, options: Partial<SidefileOptions> = {}): Promise<Sidefile> {
  await s.close()
  open.splice(open.indexOf(s), 1)
  return sidefile(options)
}

describe('sidefile', () => {
  it('makes concurrent appends durable in order, sharing fdatasyncs (group commit)', async () => {
    const s = await sidefile()
    const order: number[] = []
    await Promise.all(Array.from({ length: 200 }, (_, i) => append(s, payload(i)).then(() => order.push(i))))
    expect(order).toEqual(Array.from({ length: 200 }, (_, i) => i))
    const st = s.stats()
    expect(st.entries).toBe(200)
    expect(st.bytes).toBe(200 * (ENTRY_HEADER_BYTES + 100))
    expect(st.durableEnd).toBe(st.end)
    expect(st.syncs).toBeLessThan(20)
    expect((await readAll(s)).map((p) => p[0])).toEqual(Array.from({ length: 200 }, (_, i) => i % 256))
  })

  it('hands build the durability promise, so the caller can chain work in append order', async () => {
    const s = await sidefile()
    const seen: string[] = []
    const durables: Promise<void>[] = []
    await Promise.all(
      [1, 2, 3].map((i) =>
        s.append(10, (durable) => {
          durables.push(durable.then(() => void seen.push(`durable ${i}`)))
          return payload(i, 10)
        }),
      ),
    )
    await Promise.all(durables)
    expect(seen).toEqual(['durable 1', 'durable 2', 'durable 3'])
  })

  it('keeps entries across a reopen and continues positions', async () => {
    let s = await sidefile()
    for (let i = 0; i < 10; i++) await append(s, payload(i))
    const end = s.stats().end
    s = await reopen(s)
    expect(s.stats()).toMatchObject({ start: 0, end, durableEnd: end, entries: 10 })
    await append(s, payload(10))
    expect((await readAll(s)).map((p) => p[0])).toEqual(Array.from({ length: 11 }, (_, i) => i))
  })

  it('reads within limits, at least one entry even when it is larger than maxBytes', async () => {
    const s = await sidefile()
    await append(s, payload(1, 5000))
    await append(s, payload(2, 10))
    const first = await s.read(0, { maxEntries: 10, maxBytes: 100 })
    expect(first.map((e) => e.payload.length)).toEqual([5000])
    const rest = await s.read((first[0] as { end: number }).end, { maxEntries: 10, maxBytes: 100 })
    expect(rest.map((e) => e.payload[0])).toEqual([2])
    expect(await s.read(0, { maxEntries: 1, maxBytes: 1 << 20 })).toHaveLength(1)
  })

  describe('recovery', () => {
    async function withTen(): Promise<{ path: string; size: number }> {
      const s = await sidefile()
      for (let i = 0; i < 10; i++) await append(s, payload(i))
      await s.close()
      open.splice(open.indexOf(s), 1)
      const path = join(dir, segmentFileName(0))
      return { path, size: (await stat(path)).size }
    }

    it.each([
      ['a partial header', (p: string) => appendFile(p, Buffer.from([0x58, 0x52, 0x43]))],
      [
        'a partial payload',
        (p: string) => appendFile(p, Buffer.concat([entryHeader(payload(10)), payload(10).subarray(0, 40)])),
      ],
      [
        'a last entry with a bad CRC',
        (p: string) => appendFile(p, Buffer.concat([entryHeader(payload(10)), payload(99)])),
      ],
      ['a zero-filled tail', (p: string) => appendFile(p, Buffer.alloc(4096))],
    ])('truncates a torn tail: %s', async (_name, tear) => {
      const { path, size } = await withTen()
      await tear(path)
      const s = await sidefile()
      expect(s.stats().entries).toBe(10)
      expect((await stat(path)).size).toBe(size)
      await append(s, payload(10))
      expect((await readAll(s)).map((p) => p[0])).toEqual(Array.from({ length: 11 }, (_, i) => i))
    })

    it('refuses corruption before the tail, naming file and offset', async () => {
      const { path } = await withTen()
      const buf = await readFile(path)
      const third = 2 * (ENTRY_HEADER_BYTES + 100)
      const at = third + ENTRY_HEADER_BYTES + 5
      buf.writeUInt8(buf.readUInt8(at) ^ 0xff, at) // flip a payload byte of the third entry
      await writeFile(path, buf)
      const err = await openSidefile({
        dir,
        maxBytes: 1 << 20,
        waitMs: 0,
        segmentBytes: 64 * 1024,
        logger: silentLogger,
      }).catch((e: unknown) => e)
      expect(isXrcError(err, 'XRC_SIDEFILE_CORRUPT')).toBe(true)
      expect((err as Error).message).toContain(path)
      expect((err as Error).message).toContain(`offset ${third}`)
      expect(scanSegment(buf).kind).toBe('corrupt')
    })

    it('removes empty segment files and stale segments left before a gap', async () => {
      const s = await sidefile({ segmentBytes: 1000 })
      for (let i = 0; i < 30; i++) await append(s, payload(i))
      await s.close()
      open.splice(open.indexOf(s), 1)
      const files = await segmentFiles()
      expect(files.length).toBeGreaterThan(3)
      // a trim deleted the second segment, then a crash undid the deletion of the first
      await rm(join(dir, files[1] as string))
      await writeFile(join(dir, segmentFileName(10 ** 12)), '') // created, never written: an empty file
      const again = await sidefile({ segmentBytes: 1000 })
      expect(await segmentFiles()).toEqual(files.slice(2))
      expect(again.stats().start).toBe(Number((files[2] as string).slice(0, 20)))
      const firstKept = (await readAll(again))[0] as Buffer
      expect(firstKept[0]).toBeGreaterThan(0)
    })

    it('refuses a damaged segment that is not the last one', async () => {
      const s = await sidefile({ segmentBytes: 1000 })
      for (let i = 0; i < 30; i++) await append(s, payload(i))
      await s.close()
      open.splice(open.indexOf(s), 1)
      const first = join(dir, (await segmentFiles())[0] as string)
      await truncate(first, (await stat(first)).size - 10)
      const err = await openSidefile({
        dir,
        maxBytes: 1 << 20,
        waitMs: 0,
        segmentBytes: 1000,
        logger: silentLogger,
      }).catch((e: unknown) => e)
      expect(isXrcError(err, 'XRC_SIDEFILE_CORRUPT')).toBe(true)
      expect((err as Error).message).toContain(first)
    })
  })

  describe('trim', () => {
    it('deletes whole acknowledged segments, never the last one, after beforeDelete', async () => {
      let checkpoints = 0
      const s = await sidefile({ segmentBytes: 1000, beforeDelete: async () => void checkpoints++ })
      for (let i = 0; i < 30; i++) await append(s, payload(i))
      const segmentsBefore = (await segmentFiles()).length
      const entries = await s.read(0, { maxEntries: 15, maxBytes: 1 << 20 })
      await s.trim((entries.at(-1) as { end: number }).end)
      expect(s.stats().entries).toBe(15)
      expect(s.stats().bytes).toBe(15 * (ENTRY_HEADER_BYTES + 100))
      expect((await segmentFiles()).length).toBeLessThan(segmentsBefore)
      expect(checkpoints).toBe(1)
      await s.trim(s.stats().durableEnd)
      expect(s.stats()).toMatchObject({ entries: 0, bytes: 0 })
      expect(await segmentFiles()).toHaveLength(1) // the latest entry stays on disk
      // the fully acknowledged last segment is sealed: the next append starts a new one, and the old one can go
      await append(s, payload(30))
      await s.trim(s.stats().durableEnd)
      expect(await segmentFiles()).toHaveLength(1)
      expect((await readAll(s)).length).toBe(0)
    })

    it('refuses a position that is not an entry boundary or not durable', async () => {
      const s = await sidefile()
      await append(s, payload(1))
      await expect(s.trim(5)).rejects.toThrow(/not an entry boundary/)
      await expect(s.trim(10_000)).rejects.toThrow(/beyond the durable end/)
      await expect(s.read(10_000, { maxEntries: 1, maxBytes: 1 })).rejects.toThrow(/outside/)
    })
  })

  describe('space bound', () => {
    const entry = ENTRY_HEADER_BYTES + 100

    it('makes a writer wait for space, oldest first, and lets it in when a trim frees some', async () => {
      const waited: string[] = []
      const s = await sidefile({
        maxBytes: 2 * entry,
        waitMs: 10_000,
        onWaited: (_ms, outcome) => void waited.push(outcome),
      })
      await append(s, payload(1))
      await append(s, payload(2))
      const order: number[] = []
      const third = append(s, payload(3)).then(() => order.push(3))
      const fourth = append(s, payload(4)).then(() => order.push(4))
      expect(s.stats().waitingWriters).toBe(2)
      const [first] = await s.read(0, { maxEntries: 1, maxBytes: 1 << 20 })
      await s.trim((first as { end: number }).end)
      await third
      expect(s.stats().waitingWriters).toBe(1)
      await s.trim(s.stats().durableEnd)
      await fourth
      expect(order).toEqual([3, 4])
      expect(waited).toEqual(['granted', 'granted'])
      expect(s.stats()).toMatchObject({ waits: 2, waitingWriters: 0, fullTotal: 0 })
      expect((await readAll(s)).map((p) => p[0])).toEqual([4])
    })

    it('fails a writer with XRC_SIDEFILE_FULL after sidefileWaitMs, and reports it on the full hook', async () => {
      const events: SidefileFullEvent[] = []
      const s = await sidefile({ maxBytes: 2 * entry, waitMs: 50, onFull: (e) => void events.push(e) })
      await append(s, payload(1))
      await append(s, payload(2))
      let built = false
      const began = Date.now()
      const err = await s.append(100, () => ((built = true), payload(3))).catch((e: unknown) => e)
      expect(Date.now() - began).toBeGreaterThanOrEqual(45)
      expect(isXrcError(err, 'XRC_SIDEFILE_FULL')).toBe(true)
      expect(built).toBe(false) // no seq was taken for it
      expect(events).toHaveLength(1)
      expect(events[0]).toMatchObject({ bytes: 2 * entry, maxBytes: 2 * entry, entryBytes: entry })
      expect(events[0]?.waitedMs).toBeGreaterThanOrEqual(45)
      expect(s.stats()).toMatchObject({ fullTotal: 1, waitingWriters: 0, entries: 2 })
    })

    it('fails at once when waiting is disabled or the entry can never fit', async () => {
      const s = await sidefile({ maxBytes: 2 * entry, waitMs: 0 })
      await append(s, payload(1))
      await append(s, payload(2))
      expect(isXrcError(await append(s, payload(3)).catch((e: unknown) => e), 'XRC_SIDEFILE_FULL')).toBe(true)
      expect(isXrcError(await append(s, payload(3, 10_000)).catch((e: unknown) => e), 'XRC_SIDEFILE_FULL')).toBe(true)
    })

    it('fails waiting writers with XRC_CLOSED on close', async () => {
      const s = await sidefile({ maxBytes: entry, waitMs: 10_000 })
      await append(s, payload(1))
      const waiting = append(s, payload(2)).catch((e: unknown) => e)
      await s.close()
      expect(isXrcError(await waiting, 'XRC_CLOSED')).toBe(true)
      expect(isXrcError(await append(s, payload(3)).catch((e: unknown) => e), 'XRC_CLOSED')).toBe(true)
    })
  })
})
