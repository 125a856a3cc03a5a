import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  decodeChunkHeader,
  decodeClientFlags,
  decodeErrorPayload,
  encodeDoneChunk,
  encodeErrorChunk,
  encodeReadChunk,
  decodeGreeting,
  decodeInfo,
  decodeInfoRequest,
  decodeOptionHeader,
  decodeOptionReplyHeader,
  decodeRequestHeader,
  decodeServerReplyData,
  decodeSimpleReply,
  encodeClientFlags,
  encodeExportNameReply,
  encodeGreeting,
  encodeInfoBlockSize,
  encodeInfoExport,
  encodeInfoRequest,
  encodeInfoText,
  encodeOption,
  encodeOptionReply,
  encodeRequest,
  encodeServerReplyData,
  encodeSimpleReply,
} from './codec.js'
import { INFOS, MAX_OPTION_BYTES, NbdProtocolError, SIZES, type NbdProtocolReason } from './protocol.js'

const u16 = fc.integer({ min: 0, max: 0xffff })
const u32 = fc.integer({ min: 0, max: 0xffffffff })
const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })
const name = fc.string({ maxLength: 200 }).filter((s) => !s.includes('\0'))

function reasonOf(fn: () => unknown): NbdProtocolReason | undefined {
  try {
    fn()
  } catch (err) {
    if (err instanceof NbdProtocolError) return err.reason
    throw err
  }
  return undefined
}

describe('round trips', () => {
  it('greeting and client flags', () => {
    fc.assert(
      fc.property(u16, (flags) => {
        expect(decodeGreeting(encodeGreeting(flags))).toEqual({ handshakeFlags: flags })
      }),
    )
    for (const flags of [0, 1, 3]) expect(decodeClientFlags(encodeClientFlags(flags), 3)).toEqual({ flags })
  })

  it('options, INFO/GO data and option replies', () => {
    fc.assert(
      fc.property(u32, fc.uint8Array({ maxLength: 512 }), (option, bytes) => {
        const data = Buffer.from(bytes)
        const buf = encodeOption(option, data)
        expect(decodeOptionHeader(buf)).toEqual({ option, length: data.length })
        expect(buf.subarray(SIZES.OPTION_HEADER)).toEqual(data)
      }),
    )
    fc.assert(
      fc.property(name, fc.array(u16, { maxLength: 20 }), (n, infos) => {
        expect(decodeInfoRequest(encodeInfoRequest(n, infos))).toEqual({ name: n, infos })
      }),
    )
    fc.assert(
      fc.property(u32, u32, fc.uint8Array({ maxLength: 256 }), (option, type, bytes) => {
        const buf = encodeOptionReply(option, type, Buffer.from(bytes))
        expect(decodeOptionReplyHeader(buf)).toEqual({ option, type, length: bytes.length })
      }),
    )
    fc.assert(
      fc.property(name, name, (n, d) => {
        expect(decodeServerReplyData(encodeServerReplyData(n, d))).toEqual({ name: n, description: d })
      }),
    )
  })

  it('information replies', () => {
    fc.assert(
      fc.property(u64, u16, (size, flags) => {
        expect(decodeInfo(encodeInfoExport(size, flags))).toEqual({ type: INFOS.EXPORT, size, flags })
      }),
    )
    fc.assert(
      fc.property(u32, u32, u32, (minimum, preferred, maximum) => {
        expect(decodeInfo(encodeInfoBlockSize(minimum, preferred, maximum))).toEqual({
          type: INFOS.BLOCK_SIZE,
          minimum,
          preferred,
          maximum,
        })
      }),
    )
    fc.assert(
      fc.property(name, (t) => {
        expect(decodeInfo(encodeInfoText(INFOS.DESCRIPTION, t))).toEqual({ type: INFOS.DESCRIPTION, text: t })
      }),
    )
  })

  it('requests and simple replies', () => {
    fc.assert(
      fc.property(u16, u16, u64, u64, u32, (flags, type, cookie, offset, length) => {
        const header = { flags, type, cookie, offset, length }
        const buf = encodeRequest(header)
        expect(buf.length).toBe(SIZES.REQUEST_HEADER)
        expect(decodeRequestHeader(buf)).toEqual(header)
      }),
    )
    fc.assert(
      fc.property(u32, u64, (error, cookie) => {
        expect(decodeSimpleReply(encodeSimpleReply(error, cookie))).toEqual({ error, cookie })
      }),
    )
  })

  it('structured reply chunks', () => {
    fc.assert(
      fc.property(u64, u32, fc.string({ maxLength: 300 }), (cookie, error, message) => {
        const buf = encodeErrorChunk(cookie, error, message)
        const h = decodeChunkHeader(buf)
        expect(h).toEqual({ flags: 1, type: 0x8001, cookie, length: buf.length - SIZES.STRUCTURED_REPLY_HEADER })
        expect(decodeErrorPayload(buf.subarray(SIZES.STRUCTURED_REPLY_HEADER))).toEqual({ error: error, message })
      }),
    )
    fc.assert(
      fc.property(u64, u64, fc.integer({ min: 1, max: 1 << 20 }), (cookie, offset, length) => {
        const buf = encodeReadChunk(cookie, offset, length)
        expect(decodeChunkHeader(buf)).toEqual({ flags: 1, type: 1, cookie, length: 8 + length })
        expect(buf.readBigUInt64BE(SIZES.STRUCTURED_REPLY_HEADER)).toBe(offset)
      }),
    )
    expect(decodeChunkHeader(encodeDoneChunk(3n))).toEqual({ flags: 1, type: 0, cookie: 3n, length: 0 })
    expect(reasonOf(() => decodeChunkHeader(Buffer.alloc(20)))).toBe('BAD_REPLY_MAGIC')
    expect(reasonOf(() => decodeErrorPayload(Buffer.from([0, 0, 0, 22, 0, 9])))).toBe('MALFORMED_REPLY')
  })

  it('the EXPORT_NAME reply has 124 zero bytes unless NO_ZEROES', () => {
    expect(encodeExportNameReply(4096n, 1, false).length).toBe(134)
    expect(encodeExportNameReply(4096n, 1, true).length).toBe(10)
  })
})

describe('streamed decoders wait for more bytes, whatever the cut', () => {
  it('answer undefined on every strict prefix of the fixed part', () => {
    const whole: [Buffer, (b: Buffer) => unknown][] = [
      [encodeGreeting(3), decodeGreeting],
      [encodeClientFlags(1), (b) => decodeClientFlags(b, 3)],
      [encodeOption(7, Buffer.alloc(9)), decodeOptionHeader],
      [encodeOptionReply(7, 1), decodeOptionReplyHeader],
      [encodeRequest({ flags: 0, type: 1, cookie: 5n, offset: 0n, length: 0 }), decodeRequestHeader],
      [encodeSimpleReply(0, 5n), decodeSimpleReply],
    ]
    for (const [buf, decode] of whole) {
      const fixed = buf.length === 25 ? SIZES.OPTION_HEADER : buf.length
      for (let n = 0; n < fixed; n++) expect(decode(buf.subarray(0, n))).toBeUndefined()
      expect(decode(buf)).toBeDefined()
    }
  })
})

describe('every malformed message gives a named error', () => {
  it('bad magics', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 28, maxLength: 64 }), (bytes) => {
        const b = Buffer.from(bytes)
        // a random buffer with the right magic is a valid message; otherwise each decoder names its magic
        if (b.readBigUInt64BE(0) !== 0x4e42444d41474943n)
          expect(reasonOf(() => decodeGreeting(b))).toBe('BAD_GREETING_MAGIC')
        if (b.readBigUInt64BE(0) !== 0x49484156454f5054n)
          expect(reasonOf(() => decodeOptionHeader(b))).toBe('BAD_OPTION_MAGIC')
        if (b.readBigUInt64BE(0) !== 0x3e889045565a9n)
          expect(reasonOf(() => decodeOptionReplyHeader(b))).toBe('BAD_REPLY_MAGIC')
        if (b.readUInt32BE(0) !== 0x25609513) expect(reasonOf(() => decodeRequestHeader(b))).toBe('BAD_REQUEST_MAGIC')
        if (b.readUInt32BE(0) !== 0x67446698) expect(reasonOf(() => decodeSimpleReply(b))).toBe('BAD_REPLY_MAGIC')
      }),
    )
  })

  it('client flags the server did not offer', () => {
    fc.assert(
      fc.property(
        u32.filter((f) => (f & ~3) !== 0),
        (flags) => {
          expect(reasonOf(() => decodeClientFlags(encodeClientFlags(flags), 3))).toBe('UNKNOWN_CLIENT_FLAGS')
        },
      ),
    )
    // NO_ZEROES only when the server offered it
    expect(reasonOf(() => decodeClientFlags(encodeClientFlags(2), 1))).toBe('UNKNOWN_CLIENT_FLAGS')
  })

  it('options longer than the server reads', () => {
    const header = encodeOption(7)
    header.writeUInt32BE(MAX_OPTION_BYTES + 1, 12)
    expect(reasonOf(() => decodeOptionHeader(header))).toBe('OPTION_TOO_LONG')
  })

  it('INFO/GO data whose lengths disagree', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        const b = Buffer.from(bytes)
        const ok =
          b.length >= 6 &&
          b.readUInt32BE(0) <= b.length - 6 &&
          b.length === 6 + b.readUInt32BE(0) + 2 * b.readUInt16BE(4 + b.readUInt32BE(0))
        if (!ok) expect(reasonOf(() => decodeInfoRequest(b))).toMatch(/MALFORMED_OPTION|STRING_TOO_LONG/)
      }),
    )
    const valid = encodeInfoRequest('vol0', [3])
    expect(reasonOf(() => decodeInfoRequest(valid.subarray(0, valid.length - 1)))).toBe('MALFORMED_OPTION')
    expect(reasonOf(() => decodeInfoRequest(Buffer.concat([valid, Buffer.alloc(1)])))).toBe('MALFORMED_OPTION')
  })

  it('info replies of the wrong length, and names too long', () => {
    expect(reasonOf(() => decodeInfo(encodeInfoExport(1n, 1).subarray(0, 11)))).toBe('MALFORMED_REPLY')
    expect(reasonOf(() => decodeInfo(Buffer.alloc(1)))).toBe('MALFORMED_REPLY')
    expect(reasonOf(() => decodeServerReplyData(Buffer.from([0, 0, 0, 9, 1])))).toBe('MALFORMED_REPLY')
    expect(reasonOf(() => encodeInfoRequest('x'.repeat(4097), []))).toBe('STRING_TOO_LONG')
  })
})
