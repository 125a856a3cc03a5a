import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Update } from '../../schemas/recordSet.js'
import { UpdateBuffer } from './updateBuffer.js'

const opArb = fc.oneof(
  fc.record({ kind: fc.constant('push' as const), sizes: fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 4 }) }),
  fc.record({ kind: fc.constant('drop' as const), count: fc.nat(6) }),
)

describe('UpdateBuffer', () => {
  it('is a FIFO of updates whose bytes and head (with its record set offset) match a model, across compactions', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 400 }), (ops) => {
        const buffer = new UpdateBuffer()
        const model: { offset: number; update: Update }[] = []
        let seq = 0
        ops.forEach((op, offset) => {
          if (op.kind === 'push') {
            const updates = op.sizes.map((n) => ({
              seq: seq++,
              time: seq,
              volume: 'v',
              block: 0,
              data: Buffer.alloc(n),
            }))
            buffer.push(offset, updates)
            for (const update of updates) model.push({ offset, update })
          } else {
            const count = Math.min(op.count, model.length)
            const span = buffer.drop(count)
            const dropped = model.splice(0, count)
            expect(span).toEqual(
              count === 0
                ? undefined
                : { firstOffset: dropped[0]?.offset, lastOffset: dropped[dropped.length - 1]?.offset },
            )
          }
          expect([...buffer.pending()]).toEqual(model.map((m) => m.update))
          expect([...buffer.pendingWithOffsets()]).toEqual(model)
          expect(buffer.bytes).toBe(model.reduce((n, m) => n + m.update.data.length, 0))
          expect(buffer.first()).toEqual(model[0])
        })
      }),
    )
  })

  it('refuses to drop more than it holds', () => {
    const buffer = new UpdateBuffer()
    buffer.push(0, [{ seq: 0, time: 1, volume: 'v', block: 0, data: Buffer.alloc(1) }])
    expect(() => buffer.drop(2)).toThrow(RangeError)
  })
})
