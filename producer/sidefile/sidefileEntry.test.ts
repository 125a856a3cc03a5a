import fc from 'fast-check'
import { expect, it } from 'vitest'
import { isXrcError } from '../../lib/errors.js'
import { decodeEntry, decodeWriteEntry, encodeWriteEntry, writeEntrySize } from './sidefileEntry.js'

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
