import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import type { JournalRecord, JournalUpdate } from '../../schemas/journal.js'
import { GroupAssembler } from './groupAssembler.js'

function update(block: number): JournalUpdate {
  return { controller: 0, seq: block, time: 1, volume: 'v', block, data: Buffer.from([block]) }
}

function parts(groupSeq: number, count: number, blocksPerPart = 2, groupTime = 1000 + groupSeq): JournalRecord[] {
  return Array.from({ length: count }, (_, part) => ({
    session: 's',
    groupSeq,
    groupTime,
    part,
    parts: count,
    updates: Array.from({ length: blocksPerPart }, (_, k) => update(part * blocksPerPart + k)),
    controllers: part === count - 1 ? [{ controller: 0, lastSeq: 9, lastTime: groupTime, resumeOffset: 3 }] : [],
  }))
}

describe('GroupAssembler', () => {
  it('returns a single-part group at once, with its offset', () => {
    const a = new GroupAssembler()
    const [r] = parts(1, 1)
    const got = a.push(r as JournalRecord, 5)
    expect(got?.group).toMatchObject({ session: 's', groupSeq: 1, groupTime: 1001 })
    expect(got?.group.updates).toHaveLength(2)
    expect(got).toMatchObject({ firstOffset: 5, lastOffset: 5 })
    expect(a.pendingParts).toBe(0)
  })

  it('joins consecutive parts in order; the group carries the last part offset and its controller marks', () => {
    const a = new GroupAssembler()
    const rs = parts(4, 3)
    expect(a.push(rs[0] as JournalRecord, 10)).toBeUndefined()
    expect(a.push(rs[1] as JournalRecord, 11)).toBeUndefined()
    expect(a.pendingParts).toBe(2)
    const got = a.push(rs[2] as JournalRecord, 12)
    expect(got?.group.updates.map((u) => u.block)).toEqual([0, 1, 2, 3, 4, 5])
    expect(got?.group.controllers).toEqual([{ controller: 0, lastSeq: 9, lastTime: 1004, resumeOffset: 3 }])
    expect(got).toMatchObject({ firstOffset: 10, lastOffset: 12 })
  })

  it('accepts offsets with gaps (transaction markers) between parts', () => {
    const a = new GroupAssembler()
    const rs = parts(1, 2)
    a.push(rs[0] as JournalRecord, 0)
    expect(a.push(rs[1] as JournalRecord, 7)?.lastOffset).toBe(7)
  })

  it.each([
    ['a part before part 0', () => [[parts(1, 3)[1], 0]] as const, /without the parts before it/],
    [
      'a missing middle part',
      () =>
        [
          [parts(1, 3)[0], 0],
          [parts(1, 3)[2], 1],
        ] as const,
      /expected part 1 of group 1/,
    ],
    [
      'a repeated part',
      () =>
        [
          [parts(1, 3)[0], 0],
          [parts(1, 3)[0], 1],
        ] as const,
      /expected part 1 of group 1/,
    ],
    [
      'a new group before the last one ended',
      () =>
        [
          [parts(1, 2)[0], 0],
          [parts(2, 1)[0], 1],
        ] as const,
      /group 1 is cut short/,
    ],
    [
      'a parts count that changes',
      () =>
        [
          [parts(1, 2)[0], 0],
          [{ ...parts(1, 3)[1], parts: 3 }, 1],
        ] as const,
      /differs from part 0/,
    ],
    [
      'a time that changes',
      () =>
        [
          [parts(1, 2)[0], 0],
          [{ ...parts(1, 2)[1], groupTime: 5 }, 1],
        ] as const,
      /differs from part 0/,
    ],
    [
      'an offset that goes back',
      () =>
        [
          [parts(1, 2)[0], 5],
          [parts(1, 2)[1], 5],
        ] as const,
      /offset not after/,
    ],
    ['a part number out of range', () => [[{ ...parts(1, 2)[0], part: 2 }, 0]] as const, /part must be in 0..1/],
    ['zero parts', () => [[{ ...parts(1, 1)[0], parts: 0 }, 0]] as const, /parts must be at least 1/],
  ])('refuses %s with XRC_GROUP_INCOMPLETE and drops the held parts', (_name, feed, message) => {
    const a = new GroupAssembler()
    const steps = feed()
    const last = steps[steps.length - 1] as readonly [JournalRecord, number]
    for (const [r, o] of steps.slice(0, -1) as (readonly [JournalRecord, number])[]) a.push(r, o)
    let thrown: unknown
    try {
      a.push(last[0], last[1])
    } catch (err) {
      thrown = err
    }
    expect(thrown).toMatchObject({ code: 'XRC_GROUP_INCOMPLETE', message: expect.stringMatching(message) })
    expect(a.pendingParts).toBe(0)
  })

  it('reassembles any sequence of whole groups exactly (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            parts: fc.integer({ min: 1, max: 5 }),
            blocks: fc.integer({ min: 0, max: 3 }),
            gap: fc.integer({ min: 1, max: 3 }),
          }),
          { maxLength: 15 },
        ),
        (shapes) => {
          const a = new GroupAssembler()
          let offset = 0
          const seen: number[] = []
          shapes.forEach((shape, i) => {
            for (const r of parts(i + 1, shape.parts, shape.blocks)) {
              const got = a.push(r, offset)
              offset += shape.gap
              if (got) {
                seen.push(got.group.groupSeq)
                expect(got.group.updates).toHaveLength(shape.parts * shape.blocks)
              }
            }
          })
          expect(seen).toEqual(shapes.map((_, i) => i + 1))
          expect(a.pendingParts).toBe(0)
        },
      ),
    )
  })
})
