import { createRequire } from 'node:module'
import fc from 'fast-check'
import { expect, it } from 'vitest'
import { kafkaCrc } from './kafkaCrc.js'

const require = createRequire(import.meta.url)

it('gives kafkajs the native CRC-32C when imported before kafkajs', () => {
  expect(kafkaCrc).toEqual({ impl: 'native' })
  // kafkajs's record batch encoder takes the module's exports when it loads: now the native function
  const crc = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as (b: Buffer) => number
  // the CRC-32C check value (RFC 3720, B.4)
  expect(crc(Buffer.from('123456789'))).toBe(0xe3069283)
})

it('computes what kafkajs computes, for any bytes', () => {
  const own = require('kafkajs/src/protocol/recordBatch/crc32C/crc32C.js') as (b: Buffer) => number
  const crc = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as (b: Buffer) => number
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 9000 }), (bytes) => {
      const b = Buffer.from(bytes)
      expect(crc(b)).toBe(own(b) >>> 0)
    }),
    { numRuns: 300 },
  )
})
