import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { mergeOverlay, overlayRowsOf, type OverlayRow } from './overlayMerge.js'

const BS = 16
const BLOCKS = 24

/** A write to the drill: whole blocks at `first`, some of them zeros. */
const writeArb = fc
  .record({ first: fc.integer({ min: 0, max: BLOCKS - 1 }), count: fc.integer({ min: 1, max: 6 }), seed: fc.nat() })
  .map(({ first, count, seed }) => {
    const n = Math.min(count, BLOCKS - first)
    const data = Buffer.alloc(n * BS)
    for (let b = 0; b < n; b++) if ((seed >> b) % 3 !== 0) data.fill(((seed + b) % 255) + 1, b * BS, (b + 1) * BS)
    return { first, data }
  })

describe('the overlay merge', () => {
  it('reads every range as the model: the snapshot with the last write of each block laid over it', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: BLOCKS * BS, maxLength: BLOCKS * BS }),
        fc.array(writeArb, { maxLength: 12 }),
        fc.integer({ min: 0, max: BLOCKS - 1 }),
        fc.integer({ min: 1, max: BLOCKS }),
        (snap, writes, first, wanted) => {
          const snapshot = Buffer.from(snap)
          // the model: the whole image, written in place
          const model = Buffer.from(snapshot)
          // the store: one row per block, the last write winning (an upsert)
          const overlay = new Map<number, OverlayRow>()
          for (const w of writes) {
            w.data.copy(model, w.first * BS)
            for (const r of overlayRowsOf(w.first, w.data, BS)) overlay.set(r.block, r)
          }
          const count = Math.min(wanted, BLOCKS - first)
          const base = snapshot.subarray(first * BS, (first + count) * BS)
          const rows = [...overlay.values()].filter((r) => r.block >= first && r.block < first + count)
          const read = mergeOverlay(base, first, count, BS, rows)
          expect(read.equals(model.subarray(first * BS, (first + count) * BS))).toBe(true)
          // the snapshot's bytes are never changed by a read
          expect(snapshot.equals(Buffer.from(snap))).toBe(true)
        },
      ),
    )
  })

  it('keeps zero blocks as null and copies the others', () => {
    const data = Buffer.concat([Buffer.alloc(BS), Buffer.alloc(BS, 7), Buffer.alloc(BS)])
    const rows = overlayRowsOf(5, data, BS)
    expect(rows.map((r) => [r.block, r.data?.[0] ?? null])).toEqual([
      [5, null],
      [6, 7],
      [7, null],
    ])
    // a copy: the caller's buffer may be reused
    data.fill(9)
    expect(rows[1]?.data?.[0]).toBe(7)
  })

  it('refuses rows outside the range or of the wrong size, and partial blocks', () => {
    const base = Buffer.alloc(2 * BS)
    expect(() => mergeOverlay(base, 4, 2, BS, [{ block: 6, data: null }])).toThrow(/outside blocks 4..5/)
    expect(() => mergeOverlay(base, 4, 2, BS, [{ block: 4, data: Buffer.alloc(3) }])).toThrow(/holds 3 bytes/)
    expect(() => mergeOverlay(base, 4, 3, BS, [])).toThrow(/not 3 blocks/)
    expect(() => overlayRowsOf(0, Buffer.alloc(BS + 1), BS)).toThrow(/whole number/)
  })
})
