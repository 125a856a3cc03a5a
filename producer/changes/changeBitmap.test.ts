import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { ChangeBitmap } from './changeBitmap.js'

describe('ChangeBitmap', () => {
  it('behaves like a set of block numbers', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }).chain((n) =>
          fc.tuple(
            fc.constant(n),
            fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: n - 1 }), fc.integer({ min: 1, max: 9 })), {
              maxLength: 60,
            }),
          ),
        ),
        ([n, ops]) => {
          const bm = new ChangeBitmap(n)
          const model = new Set<number>()
          for (const [isMark, start, len] of ops) {
            const count = Math.min(len, n - start)
            let delta = 0
            for (let b = start; b < start + count; b++) {
              if (isMark === model.has(b)) continue
              if (isMark) model.add(b)
              else model.delete(b)
              delta++
            }
            expect(isMark ? bm.mark(start, count) : bm.clear(start, count)).toBe(delta)
          }
          expect(bm.count).toBe(model.size)
          expect([...bm.marked()]).toEqual([...model].sort((a, b) => a - b))
          const sorted = [...model].sort((a, b) => a - b)
          for (const from of [0, Math.floor(n / 3), n - 1])
            expect(bm.nextMarked(from)).toBe(sorted.find((b) => b >= from))
          const copy = new ChangeBitmap(n, bm.toBuffer())
          expect([...copy.marked()]).toEqual([...bm.marked()])
          expect(copy.count).toBe(bm.count)
        },
      ),
    )
  })

  it('unions two generations', () => {
    const a = new ChangeBitmap(20)
    const b = new ChangeBitmap(20)
    a.mark(1, 3)
    b.mark(2, 5)
    a.union(b)
    expect([...a.marked()]).toEqual([1, 2, 3, 4, 5, 6])
    expect(a.count).toBe(6)
  })

  it('copies byte ranges and resets', () => {
    const bm = new ChangeBitmap(20)
    bm.mark(9, 2)
    expect([...bm.byteRange(1, 2)]).toEqual([0b110])
    expect(bm.byteLength).toBe(3)
    bm.reset()
    expect(bm.count).toBe(0)
    expect(bm.nextMarked(0)).toBeUndefined()
  })

  it('refuses blocks outside the volume', () => {
    const bm = new ChangeBitmap(10)
    expect(() => bm.mark(9, 2)).toThrow(/outside a volume of 10 blocks/)
    expect(() => bm.mark(-1)).toThrow(RangeError)
    expect(() => new ChangeBitmap(10, new Uint8Array(1))).toThrow(/needs 2 bytes/)
  })
})
