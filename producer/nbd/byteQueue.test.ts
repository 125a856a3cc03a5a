import fc from 'fast-check'
import { expect, it } from 'vitest'
import { ByteQueue } from './byteQueue.js'

it('gives back the bytes pushed, in order, however they were cut and taken', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 50 }), { maxLength: 20 }),
      fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 30 }),
      (chunks, takes) => {
        const q = new ByteQueue()
        const all = Buffer.concat(chunks.map((c) => Buffer.from(c)))
        for (const c of chunks) q.push(Buffer.from(c))
        let at = 0
        for (const n of takes) {
          const k = Math.min(n, q.length)
          expect(q.peek(k)).toEqual(all.subarray(at, at + k))
          expect(q.take(k)).toEqual(all.subarray(at, at + k))
          at += k
          expect(q.length).toBe(all.length - at)
        }
        expect(q.skip(1_000_000)).toBe(all.length - at)
        expect(q.length).toBe(0)
      },
    ),
  )
})
