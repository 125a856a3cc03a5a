import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  decodeInfo,
  decodeOptionReplyHeader,
  decodeServerReplyData,
  encodeInfoRequest,
  type InfoReply,
} from './codec.js'
import { answerOption, type ExportDescription, type NegotiationContext } from './negotiation.js'
import { INFOS, OPTIONS, REPLIES, SIZES } from './protocol.js'

const exports = new Map<string, ExportDescription>([
  ['vol0', { name: 'vol0', size: 1 << 20, description: 'zero' }],
  ['vol1', { name: 'vol1', size: 2 << 20, description: 'one' }],
])
const ctx: NegotiationContext = {
  exports,
  transmissionFlags: 0x14d,
  blockSizes: { minimum: 1, preferred: 4096, maximum: 1 << 20 },
  noZeroes: true,
  shuttingDown: false,
}

function parse(replies: Buffer[]): { type: number; data: Buffer }[] {
  return replies.map((r) => {
    const h = decodeOptionReplyHeader(r)
    if (!h) throw new Error('short reply')
    expect(r.length).toBe(SIZES.OPTION_REPLY_HEADER + h.length)
    return { type: h.type, data: r.subarray(SIZES.OPTION_REPLY_HEADER) }
  })
}

describe('option haggling', () => {
  it('GO answers the export, its block sizes and what was asked, then enters transmission', () => {
    const step = answerOption(ctx, OPTIONS.GO, encodeInfoRequest('vol1', [INFOS.BLOCK_SIZE, INFOS.DESCRIPTION]))
    expect(step.next).toBe('transmission')
    const replies = parse(step.replies)
    expect(replies.at(-1)?.type).toBe(REPLIES.ACK)
    const infos = replies.slice(0, -1).map((r) => (expect(r.type).toBe(REPLIES.INFO), decodeInfo(r.data)))
    expect(infos).toContainEqual<InfoReply>({ type: INFOS.EXPORT, size: 2n << 20n, flags: 0x14d })
    expect(infos).toContainEqual<InfoReply>({ type: INFOS.BLOCK_SIZE, minimum: 1, preferred: 4096, maximum: 1 << 20 })
    expect(infos).toContainEqual<InfoReply>({ type: INFOS.DESCRIPTION, text: 'one' })
  })

  it('INFO answers the same and stays in the handshake', () => {
    const step = answerOption(ctx, OPTIONS.INFO, encodeInfoRequest('vol0', []))
    expect(step.next).toBe('options')
    expect(parse(step.replies).map((r) => r.type)).toEqual([REPLIES.INFO, REPLIES.INFO, REPLIES.ACK])
  })

  it('an unknown export is NBD_REP_ERR_UNKNOWN naming the exports, with no INFO', () => {
    const step = answerOption(ctx, OPTIONS.GO, encodeInfoRequest('nope', []))
    expect(step.next).toBe('options')
    const [r] = parse(step.replies)
    expect(r?.type).toBe(REPLIES.ERR_UNKNOWN)
    expect(r?.data.toString()).toBe('no export named "nope" (exports: vol0, vol1)')
  })

  it('the default export is the only one, when there is one', () => {
    expect(answerOption(ctx, OPTIONS.GO, encodeInfoRequest('', [])).next).toBe('options')
    const one = { ...ctx, exports: new Map([['vol0', exports.get('vol0') as ExportDescription]]) }
    expect(answerOption(one, OPTIONS.GO, encodeInfoRequest('', []))).toMatchObject({
      next: 'transmission',
      export: { name: 'vol0' },
    })
  })

  it('malformed INFO/GO data is NBD_REP_ERR_INVALID and the handshake goes on', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5 }), (bytes) => {
        const step = answerOption(ctx, OPTIONS.GO, Buffer.from(bytes))
        expect(step.next).toBe('options')
        expect(parse(step.replies)[0]?.type).toBe(REPLIES.ERR_INVALID)
      }),
    )
  })

  it('LIST names every export; with data it is NBD_REP_ERR_INVALID', () => {
    const replies = parse(answerOption(ctx, OPTIONS.LIST, Buffer.alloc(0)).replies)
    expect(replies.map((r) => r.type)).toEqual([REPLIES.SERVER, REPLIES.SERVER, REPLIES.ACK])
    expect(replies.slice(0, 2).map((r) => decodeServerReplyData(r.data).name)).toEqual(['vol0', 'vol1'])
    expect(parse(answerOption(ctx, OPTIONS.LIST, Buffer.alloc(1)).replies)[0]?.type).toBe(REPLIES.ERR_INVALID)
  })

  it('ABORT is acknowledged, then the connection closes', () => {
    const step = answerOption(ctx, OPTIONS.ABORT, Buffer.from('ignored'))
    expect(step.next).toBe('close')
    expect(parse(step.replies).map((r) => r.type)).toEqual([REPLIES.ACK])
  })

  it('EXPORT_NAME answers size and flags (no zeroes when agreed); an unknown name closes', () => {
    const step = answerOption(ctx, OPTIONS.EXPORT_NAME, Buffer.from('vol0'))
    expect(step.next).toBe('transmission')
    expect(step.replies[0]?.length).toBe(10)
    expect(step.replies[0]?.readBigUInt64BE(0)).toBe(1n << 20n)
    expect(answerOption({ ...ctx, noZeroes: false }, OPTIONS.EXPORT_NAME, Buffer.from('vol0')).replies[0]?.length).toBe(
      134,
    )
    expect(answerOption(ctx, OPTIONS.EXPORT_NAME, Buffer.from('x'))).toMatchObject({ next: 'close', replies: [] })
  })

  it('every other option is NBD_REP_ERR_UNSUP and the handshake goes on', () => {
    const known = new Set<number>([
      OPTIONS.EXPORT_NAME,
      OPTIONS.ABORT,
      OPTIONS.LIST,
      OPTIONS.INFO,
      OPTIONS.GO,
      OPTIONS.STRUCTURED_REPLY,
    ])
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }).filter((o) => !known.has(o)),
        fc.uint8Array({ maxLength: 32 }),
        (option, data) => {
          const step = answerOption(ctx, option, Buffer.from(data))
          expect(step.next).toBe('options')
          expect(parse(step.replies).map((r) => r.type)).toEqual([REPLIES.ERR_UNSUP])
        },
      ),
    )
  })

  it('STRUCTURED_REPLY is acknowledged (ERR_INVALID with data)', () => {
    const step = answerOption(ctx, OPTIONS.STRUCTURED_REPLY, Buffer.alloc(0))
    expect(step).toMatchObject({ next: 'options', structuredReplies: true })
    expect(parse(step.replies).map((r) => r.type)).toEqual([REPLIES.ACK])
    const bad = answerOption(ctx, OPTIONS.STRUCTURED_REPLY, Buffer.alloc(2))
    expect(parse(bad.replies).map((r) => r.type)).toEqual([REPLIES.ERR_INVALID])
    expect('structuredReplies' in bad).toBe(false)
  })

  it('while shutting down, everything but ABORT is NBD_REP_ERR_SHUTDOWN', () => {
    const down = { ...ctx, shuttingDown: true }
    expect(parse(answerOption(down, OPTIONS.GO, encodeInfoRequest('vol0', [])).replies)[0]?.type).toBe(
      REPLIES.ERR_SHUTDOWN,
    )
    expect(answerOption(down, OPTIONS.ABORT, Buffer.alloc(0)).next).toBe('close')
  })
})
