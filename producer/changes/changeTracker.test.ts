import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isXrcError } from '../../lib/errors.js'
import { silentLogger } from '../../lib/logger.js'
import { decodeGenerations, encodeGenerations } from './changeFiles.js'
import { ChangeGenerations } from './changeGenerations.js'
import { openChangeTracker } from './changeTracker.js'

const VOLUMES = [
  { name: 'a', blocks: 40 },
  { name: 'b', blocks: 9 },
]

describe('ChangeGenerations', () => {
  it('always names every block written after the last time the secondary confirmed', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.record({ write: fc.integer({ min: 0, max: 39 }) }), fc.record({ applied: fc.nat(20) })), {
          maxLength: 80,
          size: 'max',
        }),
        (events) => {
          const g = new ChangeGenerations(VOLUMES)
          let clock = 0
          let confirmed = 0
          const writes: { block: number; time: number }[] = []
          for (const e of events) {
            if ('write' in e) {
              const time = ++clock
              g.mark('a', e.write, 1)
              writes.push({ block: e.write, time })
            } else {
              // the applier lags: it confirms a time at or below the last write, never ahead of the clock
              const applied = Math.max(confirmed, clock - e.applied)
              confirmed = applied
              g.confirm(applied, ++clock)
            }
            const union = g.union('a')
            for (const w of writes)
              if (w.time > confirmed)
                expect(union.has(w.block), `block ${w.block} written at ${w.time}, confirmed ${confirmed}`).toBe(true)
          }
        },
      ),
    )
  })

  it('discards the older generation only once the applied time reaches the newer one', () => {
    const g = new ChangeGenerations(VOLUMES)
    g.mark('a', 1, 1)
    expect(g.confirm(5, 10)).toBe(true) // newerStart 0: block 1 moves to the older generation
    g.mark('a', 2, 1)
    expect(g.counts()).toEqual({ older: 1, newer: 1 })
    expect(g.confirm(9, 11)).toBe(false)
    expect(g.confirm(10, 12)).toBe(true)
    expect([...g.union('a').marked()]).toEqual([2])
    expect(() => g.confirm(100, 12)).toThrow(RangeError)
  })

  it('round-trips through its file format and refuses damage', () => {
    const g = new ChangeGenerations(VOLUMES)
    g.mark('a', 3, 4)
    g.confirm(1, 7)
    g.mark('b', 8, 1)
    const buf = encodeGenerations(g.snapshot())
    const back = new ChangeGenerations(VOLUMES, decodeGenerations(buf, 'mem'))
    expect(back.starts).toEqual({ olderStart: 0, newerStart: 7 })
    expect([...back.union('a').marked()]).toEqual([3, 4, 5, 6])
    expect([...back.union('b').marked()]).toEqual([8])
    buf[30] = (buf[30] as number) ^ 1
    expect(() => decodeGenerations(buf, 'mem')).toThrow(/CRC mismatch/)
  })
})

describe('openChangeTracker', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'xrc-changes-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('keeps durable marks and checkpointed generations across a reopen, and folds them for a lost journal', async () => {
    const t = await openChangeTracker({ controllerDir: dir, volumes: VOLUMES, logger: silentLogger })
    await Promise.all([t.markPending('a', 0, 3), t.markPending('b', 8, 1), t.markPending('a', 39, 1)])
    // on disk before close: the file holds the marks the promises vouched for
    const raw = await readFile(join(dir, 'changes', 'a.pending'))
    expect(raw[0]).toBe(0b111)
    expect(raw.length).toBe(5)
    t.clearPending('a', 1, 1)
    t.noteSent('a', 20, 2)
    await t.checkpoint()
    // a crash now: the tracker is dropped without close()
    const u = await openChangeTracker({ controllerDir: dir, volumes: VOLUMES, logger: silentLogger })
    expect([...(u.pending.get('a')?.marked() ?? [])]).toEqual([0, 2, 39])
    expect(u.counts()).toEqual({ pending: 4, older: 0, newer: 2 })
    expect(await u.foldGenerations()).toBe(2)
    expect(u.counts()).toEqual({ pending: 6, older: 0, newer: 0 })
    await u.close()
    await t.close()
    const w = await openChangeTracker({ controllerDir: dir, volumes: VOLUMES, logger: silentLogger })
    expect(w.pendingCount()).toBe(6)
    await w.close()
  })

  it('refuses a bitmap larger than its volume', async () => {
    const t = await openChangeTracker({ controllerDir: dir, volumes: VOLUMES, logger: silentLogger })
    await t.close()
    await writeFile(join(dir, 'changes', 'b.pending'), Buffer.alloc(10))
    const err = await openChangeTracker({ controllerDir: dir, volumes: VOLUMES, logger: silentLogger }).catch(
      (e: unknown) => e,
    )
    expect(isXrcError(err, 'XRC_CONFIG_INVALID')).toBe(true)
  })
})
