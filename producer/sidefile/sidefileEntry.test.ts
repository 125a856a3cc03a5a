import fc from 'fast-check'
import { expect, it } from 'vitest'
import { isXrcError } from '../../lib/errors.js'
import { windowEnd } from '../../schemas/resyncWindow.js'
import {
  decodeEntry,
  decodeWriteEntry,
  encodeWindowEntry,
  encodeWriteEntry,
  windowEntrySize,
  writeEntrySize,
} from './sidefileEntry.js'

it('round-trips a write entry, and its size is known before the seq is taken', () => {
  fc.assert(
    fc.property(
      fc.record({
        seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        time: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        volume: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/),
        block: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        data: fc.uint8Array({ minLength: 1, maxLength: 2048 }).map((a) => Buffer.from(a)),
      }),
      (u) => {
        const buf = encodeWriteEntry(u)
        expect(buf.length).toBe(writeEntrySize(u.volume, u.data.length))
        expect(decodeWriteEntry(buf, 'test')).toEqual(u)
        expect(decodeEntry(buf, 'test').kind).toBe('UPDATES')
        expect(decodeEntry(encodeWriteEntry(u, 'RESYNC'), 'test')).toEqual({ kind: 'RESYNC', update: u })
      },
    ),
  )
})

it('refuses a payload that is not a write entry', () => {
  for (const bad of [Buffer.alloc(3), Buffer.alloc(40, 9)]) {
    let caught: unknown
    try {
      decodeWriteEntry(bad, 'file x position 7')
    } catch (err) {
      caught = err
    }
    expect(isXrcError(caught, 'XRC_SIDEFILE_CORRUPT')).toBe(true)
    expect((caught as Error).message).toContain('file x position 7')
  }
})

it('round-trips a resync window event, which a write decoder refuses', () => {
  fc.assert(
    fc.property(
      fc.record({
        nextSeq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        time: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        window: fc.record({
          event: fc.constantFrom('BEGIN' as const, 'END' as const),
          epoch: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
          consistentUntil: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
          blocks: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
          reason: fc.stringMatching(/^[a-z-]{0,64}$/),
        }),
      }),
      (entry) => {
        const buf = encodeWindowEntry(entry)
        expect(buf.length).toBe(windowEntrySize(entry.window))
        expect(decodeEntry(buf, 'test')).toEqual({ kind: 'WINDOW', entry })
        expect(() => decodeWriteEntry(buf, 'test')).toThrow(/resync window event, not a write/)
      },
    ),
  )
  const good = encodeWindowEntry({ nextSeq: 1, time: 2, window: windowEnd(3) })
  for (const bad of [good.subarray(0, 20), Buffer.concat([good, Buffer.alloc(1)])]) {
    expect(() => decodeEntry(bad, 'file y position 9')).toThrow(/file y position 9 is not a resync window event/)
  }
  expect(() => encodeWindowEntry({ nextSeq: 1, time: 2, window: { ...windowEnd(1), reason: 'x'.repeat(65) } })).toThrow(
    RangeError,
  )
})
