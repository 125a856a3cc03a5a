import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { blockSpan, checkRequest, isAligned, mergeIntoBlocks, splitRange } from './requests.js'
import { COMMANDS, COMMAND_FLAGS, ERRORS } from './protocol.js'
import { maxPayloadFor } from './volumeExport.js'

const limits = { size: 1 << 20, maxPayload: 65536 }
const req = (type: number, offset: number, length: number, flags = 0) =>
  checkRequest({ type, flags, cookie: 1n, offset: BigInt(offset), length }, limits)

describe('request checks', () => {
  it('accepts requests inside the export', () => {
    expect(req(COMMANDS.READ, 0, 4096)).toMatchObject({ ok: true, kind: 'read' })
    expect(req(COMMANDS.WRITE, 1, 65536, COMMAND_FLAGS.FUA)).toMatchObject({ ok: true, kind: 'write', fua: true })
    expect(req(COMMANDS.WRITE_ZEROES, 0, 1 << 20, COMMAND_FLAGS.NO_HOLE)).toMatchObject({ ok: true, kind: 'zeroes' })
    expect(req(COMMANDS.TRIM, 0, 1 << 20)).toMatchObject({ ok: true, kind: 'trim' })
    expect(req(COMMANDS.FLUSH, 0, 0)).toMatchObject({ ok: true, kind: 'flush' })
    expect(req(COMMANDS.DISC, 0, 0)).toMatchObject({ ok: true, kind: 'disc' })
  })

  it('past the end: ENOSPC for writes and zeroes, EINVAL for reads and trims', () => {
    expect(req(COMMANDS.WRITE, (1 << 20) - 1, 2)).toMatchObject({ ok: false, error: ERRORS.ENOSPC })
    expect(req(COMMANDS.WRITE_ZEROES, 1 << 20, 1)).toMatchObject({ ok: false, error: ERRORS.ENOSPC })
    expect(req(COMMANDS.READ, 1 << 20, 1)).toMatchObject({ ok: false, error: ERRORS.EINVAL })
    expect(req(COMMANDS.TRIM, 0, (1 << 20) + 1)).toMatchObject({ ok: false, error: ERRORS.EINVAL })
    const far = checkRequest({ type: COMMANDS.READ, flags: 0, cookie: 1n, offset: 2n ** 64n - 1n, length: 1 }, limits)
    expect(far).toMatchObject({ ok: false, error: ERRORS.EINVAL })
  })

  it('over the maximum payload, unknown commands and flags, FLUSH with a range: EINVAL', () => {
    expect(req(COMMANDS.WRITE, 0, 65537)).toMatchObject({ ok: false, error: ERRORS.EINVAL })
    expect(req(COMMANDS.READ, 0, 65537)).toMatchObject({ ok: false, error: ERRORS.EINVAL })
    for (const type of [COMMANDS.CACHE, COMMANDS.BLOCK_STATUS, COMMANDS.RESIZE, 9, 0xffff])
      expect(req(type, 0, 1)).toMatchObject({
        ok: false,
        error: ERRORS.EINVAL,
        message: expect.stringMatching(/unsupported command/),
      })
    expect(req(COMMANDS.WRITE, 0, 1, COMMAND_FLAGS.NO_HOLE)).toMatchObject({ ok: false, error: ERRORS.EINVAL })
    expect(req(COMMANDS.WRITE_ZEROES, 0, 1, COMMAND_FLAGS.FAST_ZERO)).toMatchObject({ ok: false, error: ERRORS.EINVAL })
    expect(req(COMMANDS.READ, 0, 1, COMMAND_FLAGS.DF)).toMatchObject({ ok: false, error: ERRORS.EINVAL })
    expect(req(COMMANDS.FLUSH, 4096, 0)).toMatchObject({ ok: false, error: ERRORS.EINVAL })
  })
})

describe('block spans and merges', () => {
  const bs = 512
  const arb = fc
    .record({ offset: fc.integer({ min: 0, max: 8 * bs }), length: fc.integer({ min: 1, max: 6 * bs }) })
    .filter((r) => r.offset + r.length <= 16 * bs)

  it('a merged write equals the old blocks with the new bytes laid over them', () => {
    fc.assert(
      fc.property(arb, fc.integer(), ({ offset, length }, seed) => {
        const volume = Buffer.alloc(16 * bs, seed & 0xff)
        for (let i = 0; i < volume.length; i += 7) volume[i] = (i * 31 + seed) & 0xff
        const data = Buffer.alloc(length, 0xee)
        const span = blockSpan(offset, length, bs)
        expect(span.firstBlock * bs + span.head).toBe(offset)
        expect((span.firstBlock + span.blockCount) * bs - span.tail).toBe(offset + length)
        expect(span.head).toBeLessThan(bs)
        expect(span.tail).toBeLessThan(bs)
        expect(isAligned(span)).toBe(offset % bs === 0 && length % bs === 0)
        const block = (b: number): Buffer => Buffer.from(volume.subarray(b * bs, (b + 1) * bs))
        const merged = mergeIntoBlocks(span, bs, data, {
          first: block(span.firstBlock),
          last: block(span.firstBlock + span.blockCount - 1),
        })
        const expected = Buffer.from(volume)
        data.copy(expected, offset)
        expect(merged).toEqual(expected.subarray(span.firstBlock * bs, (span.firstBlock + span.blockCount) * bs))
      }),
    )
  })

  it('a write of the maximum payload at any offset is at most one host write of whole blocks', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 64 }), fc.integer({ min: 0, max: 1 << 20 }), (blocks, offset) => {
        const max = maxPayloadFor(blocks * bs + 100, bs)
        expect(blockSpan(offset, max, bs).blockCount * bs).toBeLessThanOrEqual(blocks * bs)
      }),
    )
  })

  it('an oversized zeroing splits into pieces that cover it exactly, each within the bound', () => {
    fc.assert(
      fc.property(arb, fc.integer({ min: 1, max: 4 }), ({ offset, length }, maxBlocks) => {
        const max = maxBlocks * bs
        const pieces = splitRange(offset, length, bs, max)
        let at = offset
        for (const p of pieces) {
          expect(p.offset).toBe(at)
          expect(blockSpan(p.offset, p.length, bs).blockCount * bs).toBeLessThanOrEqual(max)
          at += p.length
        }
        expect(at).toBe(offset + length)
      }),
    )
  })
})
