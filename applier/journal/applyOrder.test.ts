import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { checkGroupOrder, type AppliedMark } from './applyOrder.js'

const last: AppliedMark = { groupSeq: 5, groupTime: 5000, journalOffset: 40 }

describe('checkGroupOrder', () => {
  it('starts an empty store at group 1 only', () => {
    expect(checkGroupOrder(undefined, { groupSeq: 1, groupTime: 10 }, 0)).toBe('apply')
    expect(() => checkGroupOrder(undefined, { groupSeq: 2, groupTime: 10 }, 3)).toThrow(
      /cannot start an empty secondary/,
    )
  })

  it('applies the next group', () => {
    expect(checkGroupOrder(last, { groupSeq: 6, groupTime: 5001 }, 42)).toBe('apply')
  })

  it('calls a group at or below the last one a duplicate, whatever its offset', () => {
    expect(checkGroupOrder(last, { groupSeq: 5, groupTime: 5000 }, 40)).toBe('duplicate')
    expect(checkGroupOrder(last, { groupSeq: 2, groupTime: 2000 }, 90)).toBe('duplicate')
  })

  it.each([
    ['a gap', { groupSeq: 7, groupTime: 6000 }, 50, /groups 6..6 are missing/],
    ['a time equal to the last', { groupSeq: 6, groupTime: 5000 }, 50, /not after time 5000/],
    ['a time before the last', { groupSeq: 6, groupTime: 4000 }, 50, /not after time 5000/],
    ['an offset at or before the last', { groupSeq: 6, groupTime: 6000 }, 40, /not after offset 40/],
  ])('refuses %s with XRC_GROUP_OUT_OF_ORDER naming both values', (_name, group, offset, message) => {
    let thrown: unknown
    try {
      checkGroupOrder(last, group, offset)
    } catch (err) {
      thrown = err
    }
    expect(thrown).toMatchObject({ code: 'XRC_GROUP_OUT_OF_ORDER', message: expect.stringMatching(message) })
  })

  it('accepts exactly the contiguous, time-increasing sequence (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ seqStep: fc.integer({ min: -2, max: 2 }), timeStep: fc.integer({ min: -2, max: 3 }) }), {
          maxLength: 30,
        }),
        (steps) => {
          let mark: AppliedMark | undefined
          let seq = 0
          let time = 100
          let offset = 0
          for (const s of steps) {
            seq = Math.max(1, seq + s.seqStep)
            time += s.timeStep
            offset += 2
            const group = { groupSeq: seq, groupTime: time }
            const expected =
              mark === undefined
                ? seq === 1
                  ? 'apply'
                  : 'throw'
                : seq <= mark.groupSeq
                  ? 'duplicate'
                  : seq === mark.groupSeq + 1 && time > mark.groupTime
                    ? 'apply'
                    : 'throw'
            let got: string
            try {
              got = checkGroupOrder(mark, group, offset)
            } catch {
              got = 'throw'
            }
            expect(got).toBe(expected)
            if (got === 'apply') mark = { groupSeq: seq, groupTime: time, journalOffset: offset }
          }
        },
      ),
    )
  })
})
