/**
 * Property tests of what the transmission phase does with a request:
 * framing (whatever the request, and however its bytes arrive, the stream
 * stays framed: a valid WRITE starts only with its whole payload, a refused
 * one's payload is dropped, and only an absurd refused WRITE ends the
 * connection), the replies (they decode, with the request's cookie, to the
 * outcome) and the NBD error of a failed request.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { XrcError } from '../../lib/errors.js'
import { ByteQueue } from './byteQueue.js'
import {
  decodeChunkHeader,
  decodeErrorPayload,
  decodeRequestHeader,
  decodeSimpleReply,
  encodeRequest,
  type RequestHeader,
} from './codec.js'
import { CHUNK_FLAGS, CHUNK_TYPES, COMMANDS, ERRORS, MAX_DISCARD_BYTES, SIZES, type NbdErrno } from './protocol.js'
import { checkRequest, type ExportLimits } from './requests.js'
import { countedAs, errnoOf, errorReply, frameRequest, shutdownError, successReply } from './transmission.js'

const limits: ExportLimits = { size: 1 << 20, maxPayload: 65536 }
const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })

const typeArb = fc.oneof(
  fc.constantFrom(...Object.values(COMMANDS)),
  fc.constantFrom(COMMANDS.WRITE, COMMANDS.WRITE, COMMANDS.READ),
  fc.integer({ min: 0, max: 0xffff }),
)
const headerArb: fc.Arbitrary<RequestHeader> = fc.record({
  type: typeArb,
  flags: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })),
  cookie: u64,
  offset: fc.oneof(fc.bigInt({ min: 0n, max: BigInt(limits.size) }), u64),
  length: fc.oneof(
    fc.integer({ min: 0, max: 2 * limits.maxPayload }),
    fc.integer({ min: MAX_DISCARD_BYTES - 2, max: MAX_DISCARD_BYTES + 2 }),
    fc.integer({ min: 0, max: 0xffffffff }),
  ),
})

describe('frameRequest', () => {
  it('starts a WRITE only with its whole payload, drops a refused one, hangs up only past MAX_DISCARD_BYTES', () => {
    fc.assert(
      fc.property(headerArb, fc.nat(1 << 26), (header, extra) => {
        const received = SIZES.REQUEST_HEADER + extra
        const check = checkRequest(header, limits)
        const f = frameRequest(header, check, received)
        const write = header.type === COMMANDS.WRITE
        switch (f.kind) {
          case 'start':
            expect(check.ok).toBe(true)
            expect(f.check).toBe(check)
            expect(f.payload).toBe(write ? header.length : undefined)
            expect(SIZES.REQUEST_HEADER + (f.payload ?? 0)).toBeLessThanOrEqual(received)
            expect(header.type).not.toBe(COMMANDS.DISC)
            break
          case 'wait':
            expect(write && check.ok && received < SIZES.REQUEST_HEADER + header.length).toBe(true)
            break
          case 'refuse':
            expect(check.ok).toBe(false)
            expect(f.check).toBe(check)
            expect(f.discard).toBe(write ? header.length : 0)
            expect(f.discard).toBeLessThanOrEqual(MAX_DISCARD_BYTES)
            break
          case 'disconnect':
            expect(header.type === COMMANDS.DISC && check.ok).toBe(true)
            break
          case 'hang-up':
            expect(write && !check.ok && header.length > MAX_DISCARD_BYTES).toBe(true)
            expect(f.error.reason).toBe('PAYLOAD_TOO_LARGE')
            break
        }
        // the framing needs the payload only of a valid WRITE
        if (!(write && check.ok)) expect(frameRequest(header, check, SIZES.REQUEST_HEADER)).toEqual(f)
      }),
    )
  })

  it('frames a stream of requests alike however its bytes are split into chunks', () => {
    const requestArb = fc.record({
      type: fc.constantFrom(COMMANDS.READ, COMMANDS.WRITE, COMMANDS.FLUSH, COMMANDS.TRIM, COMMANDS.CACHE),
      cookie: u64,
      offset: fc.constantFrom(0, 512, limits.size - 100, limits.size),
      length: fc.constantFrom(0, 1, 100, 4096, limits.maxPayload + 1),
    })
    fc.assert(
      fc.property(
        fc.array(requestArb, { maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 5000 })),
        (reqs, cuts) => {
          const wire = Buffer.concat(
            reqs.map((r) => {
              const header = { ...r, flags: 0, offset: BigInt(r.offset) }
              const payload = r.type === COMMANDS.WRITE ? Buffer.alloc(r.length, Number(r.cookie & 0xffn)) : undefined
              return encodeRequest(header, payload)
            }),
          )
          const whole = frameAll([wire])
          const chunks: Buffer[] = []
          let at = 0
          for (const cut of cuts) {
            if (at >= wire.length) break
            chunks.push(wire.subarray(at, at + cut))
            at += cut
          }
          if (at < wire.length) chunks.push(wire.subarray(at))
          expect(frameAll(chunks)).toEqual(whole)
          expect(whole.map((w) => w.cookie)).toEqual(reqs.map((r) => r.cookie))
        },
      ),
    )
  })
})

/** The pump of connection.ts over chunks as they arrive: what each request became, in order. */
function frameAll(chunks: Buffer[]): { cookie: bigint; kind: string; payload?: string }[] {
  const queue = new ByteQueue()
  const out: { cookie: bigint; kind: string; payload?: string }[] = []
  let discarding = 0
  for (const chunk of chunks) {
    queue.push(chunk)
    for (;;) {
      if (discarding > 0) discarding -= queue.skip(discarding)
      if (discarding > 0) break
      const header = decodeRequestHeader(queue.peek(Math.min(queue.length, SIZES.REQUEST_HEADER)))
      if (!header) break
      const f = frameRequest(header, checkRequest(header, limits), queue.length)
      if (f.kind === 'wait') break
      queue.skip(SIZES.REQUEST_HEADER)
      if (f.kind === 'refuse') discarding = f.discard
      const payload = f.kind === 'start' && f.payload !== undefined ? queue.take(f.payload) : undefined
      out.push({ cookie: header.cookie, kind: f.kind, ...(payload ? { payload: payload.toString('hex') } : {}) })
    }
  }
  return out
}

describe('replies', () => {
  const readHeader = (cookie: bigint, offset: bigint, type: number = COMMANDS.READ): RequestHeader => ({
    type,
    flags: 0,
    cookie,
    offset,
    length: 0,
  })

  it('a success decodes to the cookie and, for a READ, its data at its offset', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.constantFrom(...Object.values(COMMANDS)),
        u64,
        fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }),
        fc.option(fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a))),
        (structured, type, cookie, offset, data) => {
          const frames = successReply(structured, readHeader(cookie, offset, type), data ?? undefined)
          const wire = Buffer.concat(frames)
          const bytes = data ?? Buffer.alloc(0)
          if (!structured || type !== COMMANDS.READ) {
            expect(decodeSimpleReply(wire)).toEqual({ error: 0, cookie })
            expect(wire.subarray(SIZES.SIMPLE_REPLY)).toEqual(bytes)
            return
          }
          const chunk = decodeChunkHeader(wire) as NonNullable<ReturnType<typeof decodeChunkHeader>>
          expect(chunk.cookie).toBe(cookie)
          expect(chunk.flags).toBe(CHUNK_FLAGS.DONE)
          const payload = wire.subarray(SIZES.STRUCTURED_REPLY_HEADER)
          expect(payload.length).toBe(chunk.length)
          if (bytes.length === 0) {
            expect(chunk.type).toBe(CHUNK_TYPES.NONE)
            return
          }
          expect(chunk.type).toBe(CHUNK_TYPES.OFFSET_DATA)
          expect(payload.readBigUInt64BE(0)).toBe(offset)
          expect(payload.subarray(8)).toEqual(bytes)
          // the data goes as its own buffer, never copied
          expect(frames.at(-1)).toBe(data)
        },
      ),
    )
  })

  it('an error decodes to the cookie and the error, with its message when structured', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        u64,
        fc.constantFrom(...(Object.values(ERRORS) as NbdErrno[])),
        fc.string({ maxLength: 200 }),
        (structured, cookie, errno, message) => {
          const wire = Buffer.concat(errorReply(structured, readHeader(cookie, 0n), errno, message))
          if (!structured) {
            expect(decodeSimpleReply(wire)).toEqual({ error: errno, cookie })
            return
          }
          const chunk = decodeChunkHeader(wire) as NonNullable<ReturnType<typeof decodeChunkHeader>>
          expect(chunk).toMatchObject({ cookie, type: CHUNK_TYPES.ERROR, flags: CHUNK_FLAGS.DONE })
          expect(decodeErrorPayload(wire.subarray(SIZES.STRUCTURED_REPLY_HEADER))).toEqual({ error: errno, message })
        },
      ),
    )
  })
})

describe('errnoOf', () => {
  const samples = {
    closed: () => new XrcError('XRC_CLOSED', { reason: 'groupAborted', groupSeq: 3 }),
    invalid: () => new XrcError('XRC_INVALID_RECORD', { reason: 'notInteger', what: 'block', value: 'x' }),
    tooLarge: () =>
      new XrcError('XRC_RECORD_TOO_LARGE', { reason: 'journalPart', part: 0, groupSeq: 1, bytes: 2, maxBytes: 1 }),
    timeout: () => new XrcError('XRC_TIMEOUT', { timeoutMs: 100, what: 'a write' }),
    plain: () => new Error('disk on fire'),
    string: () => 'a thrown string',
  }
  const expected: Record<keyof typeof samples, NbdErrno> = {
    closed: ERRORS.ESHUTDOWN,
    invalid: ERRORS.EINVAL,
    tooLarge: ERRORS.EINVAL,
    timeout: ERRORS.EIO,
    plain: ERRORS.EIO,
    string: ERRORS.EIO,
  }

  it('maps a closed primary to ESHUTDOWN, a refused record to EINVAL, anything else to EIO; an own errno wins', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...(Object.keys(samples) as (keyof typeof samples)[])),
        fc.option(fc.constantFrom(...(Object.values(ERRORS) as NbdErrno[]))),
        (name, own) => {
          const err = samples[name]()
          if (own === null || typeof err === 'string') {
            expect(errnoOf(err)).toBe(expected[name])
            return
          }
          expect(errnoOf(Object.assign(err, { nbdErrno: own }))).toBe(own)
        },
      ),
    )
    expect(errnoOf(shutdownError('the server is shutting down'))).toBe(ERRORS.ESHUTDOWN)
  })
})

describe('countedAs', () => {
  it('counts READ as read, WRITE, WRITE_ZEROES and TRIM as written, nothing else', () => {
    const kinds = {
      read: 'read',
      write: 'written',
      zeroes: 'written',
      trim: 'written',
      flush: undefined,
      disc: undefined,
    }
    for (const [kind, counter] of Object.entries(kinds))
      expect(countedAs({ ok: true, kind: kind as keyof typeof kinds, offset: 0, length: 1, fua: false })).toBe(counter)
  })
})
