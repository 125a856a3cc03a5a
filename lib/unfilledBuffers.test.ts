import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import avro from 'avsc'
import fc from 'fast-check'
import { expect, it } from 'vitest'
import { RECORD_SET_SCHEMA, type RecordSet } from '../schemas/recordSet.js'
import { unfilledBuffers } from './unfilledBuffers.js'

const require = createRequire(import.meta.url)

it('is in place for both libraries of this build', () => {
  expect(unfilledBuffers).toEqual({ kafkajsEncoder: true, avscTap: true, reasons: [] })
})

it('decodes every bytes value exactly, whatever its size, and never shares memory between values', () => {
  const type = avro.Type.forSchema(RECORD_SET_SCHEMA as unknown as avro.Schema)
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 3 * 4096 + 7 }), { minLength: 1, maxLength: 12 }), (sizes) => {
      const rs: RecordSet = {
        session: 's',
        controller: 1,
        kind: 'UPDATES',
        firstSeq: 1,
        lastSeq: sizes.length,
        minTime: 1,
        maxTime: 1,
        updates: sizes.map((n, i) => ({ seq: i + 1, time: 1, volume: 'v', block: i, data: randomBytes(n) })),
        window: null,
      }
      const decoded = type.fromBuffer(type.toBuffer(rs)) as RecordSet
      decoded.updates.forEach((u, i) => expect(u.data.equals((rs.updates[i] as { data: Buffer }).data)).toBe(true))
      // writing one value leaves the others as they were
      for (const u of decoded.updates) u.data.fill(0xee)
      decoded.updates.forEach((u) => expect(u.data.every((b) => b === 0xee)).toBe(true))
    }),
    { numRuns: 200 },
  )
})

it("grows kafkajs's encoder without losing a byte written before", () => {
  const Encoder = require('kafkajs/src/protocol/encoder.js') as new (size?: number) => {
    writeBytes(b: Buffer): unknown
    writeInt32(n: number): unknown
    buffer: Buffer
  }
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 70_000 }), { minLength: 1, maxLength: 8 }), (sizes) => {
      const chunks = sizes.map((n) => randomBytes(n))
      const e = new Encoder(16)
      for (const c of chunks) e.writeBytes(c)
      const expected = Buffer.concat(
        chunks.flatMap((c) => {
          const len = Buffer.alloc(4)
          len.writeInt32BE(c.length)
          return [len, c]
        }),
      )
      expect(e.buffer.equals(expected)).toBe(true)
    }),
    { numRuns: 100 },
  )
})
