import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ERROR_CODES, type ErrorCode } from '../../lib/errors.js'
import { CONNECT_HEADER_PREFIX, connectErrorHeaders } from './connectHeaders.js'

const codes = Object.keys(ERROR_CODES) as ErrorCode[]

describe("Kafka Connect's dead-letter headers", () => {
  it("names Connect's headers for the source, the stage and the exception", () => {
    const headers = connectErrorHeaders({
      session: 's1',
      topic: 'xrc.s1.updates',
      partition: 2,
      offset: 41,
      code: 'XRC_DECODE_FAILED',
      message: 'bad varint',
    })
    expect(headers).toEqual({
      '__connect.errors.topic': 'xrc.s1.updates',
      '__connect.errors.partition': '2',
      '__connect.errors.offset': '41',
      '__connect.errors.connector.name': 'xrc-mover-s1',
      '__connect.errors.task.id': '0',
      '__connect.errors.stage': 'VALUE_CONVERTER',
      '__connect.errors.class.name': 'xrc.mover.intake',
      '__connect.errors.exception.class.name': 'XrcError[XRC_DECODE_FAILED]',
      '__connect.errors.exception.message': 'bad varint',
    })
  })

  it('every header is prefixed, a string, and carries the source exactly', () => {
    fc.assert(
      fc.property(
        fc.record({
          session: fc.string({ minLength: 1 }),
          topic: fc.string({ minLength: 1 }),
          partition: fc.nat(1023),
          offset: fc.maxSafeNat(),
          code: fc.constantFrom(...codes),
          message: fc.string(),
        }),
        (source) => {
          const headers = connectErrorHeaders(source)
          for (const [name, value] of Object.entries(headers)) {
            expect(name.startsWith(CONNECT_HEADER_PREFIX)).toBe(true)
            expect(typeof value).toBe('string')
          }
          expect(Number(headers['__connect.errors.partition'])).toBe(source.partition)
          expect(Number(headers['__connect.errors.offset'])).toBe(source.offset)
          expect(headers['__connect.errors.exception.class.name']).toContain(source.code)
          expect(['VALUE_CONVERTER', 'TASK_PUT']).toContain(headers['__connect.errors.stage'])
        },
      ),
    )
  })
})
