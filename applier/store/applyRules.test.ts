import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import type { ImageState } from '../resync/index.js'
import {
  checkDuplicateTime,
  checkJournalOffset,
  imageAfterCommit,
  markOfControlRow,
  safeNumber,
  volumeMismatches,
} from './applyRules.js'

const imageState: fc.Arbitrary<ImageState> = fc.record({
  state: fc.constantFrom('consistent' as const, 'inconsistent' as const, 'rolled-back' as const),
  retainedVersions: fc.nat(),
})

describe('checkJournalOffset', () => {
  it('takes exactly the non-negative safe integers (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.double(), fc.constant(2 ** 53)), (offset) => {
        const ok = Number.isSafeInteger(offset) && offset >= 0
        if (ok) expect(() => checkJournalOffset(offset)).not.toThrow()
        else expect(() => checkJournalOffset(offset)).toThrow(/journal offset must be a non-negative integer/)
      }),
    )
  })
})

describe('checkDuplicateTime', () => {
  it('accepts the applied time or a missing history row, refuses any other time naming both (property)', () => {
    fc.assert(
      fc.property(
        fc.nat(),
        fc.nat(),
        fc.option(fc.bigInt({ min: 0n, max: 2n ** 40n }), { nil: undefined }),
        (seq, t, applied) => {
          const check = (): void => checkDuplicateTime({ groupSeq: seq, groupTime: t }, applied)
          if (applied === undefined || applied === BigInt(t)) expect(check).not.toThrow()
          else {
            expect(check).toThrow(
              `group ${seq} in the journal has time ${t}, but group ${seq} was applied with time ${applied}: ` +
                'the journal does not match this secondary',
            )
          }
        },
      ),
    )
  })
})

describe('markOfControlRow', () => {
  it('reads group 0 as none, and a mark as its numbers (property)', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.nat(), (seq, time, offset) => {
        const mark = markOfControlRow({
          group_seq: BigInt(seq),
          group_time: seq === 0 ? null : BigInt(time),
          journal_offset: seq === 0 ? null : BigInt(offset),
        })
        expect(mark).toEqual(seq === 0 ? undefined : { groupSeq: seq, groupTime: time, journalOffset: offset })
      }),
    )
  })

  it('refuses a value beyond 2^53 with XRC_INVALID_RECORD', () => {
    expect(() => safeNumber(2n ** 60n, 'group_time')).toThrow(`group_time ${2n ** 60n} is beyond 2^53`)
  })
})

describe('volumeMismatches', () => {
  it('names each configured volume the store holds with another size or block size, nothing else (property)', () => {
    const name = fc.constantFrom('a', 'b', 'c', 'd')
    const blocks = fc.integer({ min: 1, max: 9 })
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.record({ name, blocks }), { selector: (v) => v.name }),
        fc.uniqueArray(fc.record({ name, blocks, blockSize: fc.constantFrom(512, 4096) }), { selector: (v) => v.name }),
        (configured, stored) => {
          const found = volumeMismatches(configured, stored, 4096)
          const expected = configured.filter((c) => {
            const s = stored.find((v) => v.name === c.name)
            return s !== undefined && (s.blocks !== c.blocks || s.blockSize !== 4096)
          })
          expect(found).toHaveLength(expected.length)
          for (const [i, c] of expected.entries()) expect(found[i]).toMatch(`volume "${c.name}" is `)
        },
      ),
    )
  })
})

describe('imageAfterCommit', () => {
  it('takes what the transaction read back; else keeps a consistent image, else turns consistent (property)', () => {
    fc.assert(
      fc.property(
        fc.option(imageState, { nil: undefined }),
        fc.option(imageState, { nil: undefined }),
        (prev, written) => {
          const after = imageAfterCommit(prev, written)
          if (written !== undefined) expect(after).toBe(written)
          else if (prev?.state === 'consistent') expect(after).toBe(prev)
          else expect(after).toEqual({ state: 'consistent', retainedVersions: 0 })
        },
      ),
    )
  })
})
