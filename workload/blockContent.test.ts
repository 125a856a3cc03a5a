import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { HEAD_BYTES, decodeBlockHead, encodeBlock } from './blockContent.js'

describe('block content', () => {
  it('round-trips write ids and dependencies', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(512, 4096, 8192),
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        fc.option(
          fc.record({
            volume: fc.stringMatching(/^[a-z0-9]{1,20}$/),
            block: fc.integer({ min: 0, max: 2 ** 31 }),
            writeId: fc.integer({ min: 1, max: 2 ** 40 }),
          }),
          { nil: undefined },
        ),
        (size, id, dep) => {
          const buf = encodeBlock(size, id, dep)
          expect(buf.length).toBe(size)
          expect(decodeBlockHead(buf)).toEqual(dep ? { writeId: id, dependsOn: dep } : { writeId: id })
          expect(decodeBlockHead(buf.subarray(0, HEAD_BYTES))).toEqual(decodeBlockHead(buf))
        },
      ),
    )
  })

  it('gives different bytes to different writes', () => {
    expect(encodeBlock(4096, 1).equals(encodeBlock(4096, 2))).toBe(false)
  })

  it('does not recognise zeros or foreign bytes', () => {
    expect(decodeBlockHead(Buffer.alloc(4096))).toBeUndefined()
    expect(decodeBlockHead(Buffer.alloc(4096, 0xff))).toBeUndefined()
  })
})
