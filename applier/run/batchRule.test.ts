import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { batchLength, type BatchCandidate, type BatchLimits } from './batchRule.js'

/** Consecutive groups from seq `first`, each at a later time and offset, with the given sizes. */
function run(first: number, sizes: number[]): BatchCandidate[] {
  return sizes.map((bytes, i) => ({ groupSeq: first + i, groupTime: 1000 + 10 * i, lastOffset: 5 + 2 * i, bytes }))
}

const limits: BatchLimits = { maxBytes: 100, maxGroups: 4 }

describe('batchLength', () => {
  it('takes consecutive ready groups up to the group and byte bounds, the head always', () => {
    expect(batchLength([], limits)).toBe(0)
    expect(batchLength(run(1, [10, 10, 10, 10, 10, 10]), limits)).toBe(4)
    expect(batchLength(run(1, [60, 30, 20]), limits)).toBe(2)
    expect(batchLength(run(1, [500, 1]), limits)).toBe(1)
    expect(batchLength(run(1, [10, 10]), { ...limits, maxBytes: 0 })).toBe(1)
  })

  it('ends the batch before a gap, a time that does not advance or an offset that does not advance', () => {
    const groups = run(1, [1, 1, 1])
    const gap = [...groups.slice(0, 2), { ...(groups[2] as BatchCandidate), groupSeq: 4 }]
    expect(batchLength(gap, limits)).toBe(2)
    const sameTime = [groups[0], { ...(groups[1] as BatchCandidate), groupTime: 1000 }] as BatchCandidate[]
    expect(batchLength(sameTime, limits)).toBe(1)
    const offsetBack = [groups[0], { ...(groups[1] as BatchCandidate), lastOffset: 5 }] as BatchCandidate[]
    expect(batchLength(offsetBack, limits)).toBe(1)
    // re-read duplicates are consecutive among themselves and batch like any groups
    expect(batchLength(run(2, [0, 0]), limits)).toBe(2)
  })

  it('never goes past the stop time', () => {
    const groups = run(1, [1, 1, 1, 1])
    expect(batchLength(groups, { ...limits, stopAt: { time: 1015 } })).toBe(2)
    expect(batchLength(groups, { ...limits, stopAt: { time: 1010 } })).toBe(2)
    expect(batchLength(groups, { ...limits, stopAt: { time: 999 } })).toBe(0)
  })

  it('never goes past the stop group, nor past the stop time when both are given', () => {
    const groups = run(1, [1, 1, 1, 1])
    const seqs = groups.map((g) => g.groupSeq)
    expect(batchLength(groups, { ...limits, stopAt: { group: seqs[2] } })).toBe(3)
    expect(batchLength(groups, { ...limits, stopAt: { group: (seqs[0] as number) - 1 } })).toBe(0)
    expect(batchLength(groups, { ...limits, stopAt: { group: seqs[2], time: 1010 } })).toBe(2)
  })

  it('property: a batch is a non-empty prefix of consecutive groups within every bound, cut only by one', () => {
    const candidate = fc.record({
      seqStep: fc.constantFrom(1, 1, 1, 1, 2, 0),
      timeStep: fc.constantFrom(1, 5, 5, 0),
      offsetStep: fc.constantFrom(1, 2, 2, 0),
      bytes: fc.integer({ min: 0, max: 40 }),
    })
    fc.assert(
      fc.property(
        fc.array(candidate, { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 0, max: 120 }),
        fc.integer({ min: 1, max: 8 }),
        fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }),
        (steps, maxBytes, maxGroups, stopOffset) => {
          let seq = 0
          let time = 0
          let offset = 0
          const ready = steps.map((s) => {
            seq += s.seqStep
            time += s.timeStep
            offset += s.offsetStep
            return { groupSeq: seq, groupTime: 1000 + time, lastOffset: offset, bytes: s.bytes }
          })
          const stopAtTime = stopOffset === undefined ? undefined : 1000 + stopOffset
          const n = batchLength(ready, { maxBytes, maxGroups, stopAt: { time: stopAtTime } })
          const head = ready[0] as BatchCandidate
          if (stopAtTime !== undefined && head.groupTime > stopAtTime) return n === 0
          expect(n).toBeGreaterThanOrEqual(1)
          expect(n).toBeLessThanOrEqual(maxGroups)
          const batch = ready.slice(0, n)
          if (n > 1) expect(batch.reduce((b, g) => b + g.bytes, 0)).toBeLessThanOrEqual(maxBytes)
          for (let i = 1; i < n; i++) {
            const [a, b] = [batch[i - 1] as BatchCandidate, batch[i] as BatchCandidate]
            expect(b.groupSeq).toBe(a.groupSeq + 1)
            expect(b.groupTime).toBeGreaterThan(a.groupTime)
            expect(b.lastOffset).toBeGreaterThan(a.lastOffset)
            if (stopAtTime !== undefined) expect(a.groupTime).toBeLessThan(stopAtTime)
            if (stopAtTime !== undefined) expect(b.groupTime).toBeLessThanOrEqual(stopAtTime)
          }
          // maximal: the next group breaks one of the rules
          const next = ready[n]
          if (next !== undefined) {
            const last = batch[n - 1] as BatchCandidate
            const fits =
              n < maxGroups &&
              next.groupSeq === last.groupSeq + 1 &&
              next.groupTime > last.groupTime &&
              next.lastOffset > last.lastOffset &&
              batch.reduce((b, g) => b + g.bytes, 0) + next.bytes <= maxBytes &&
              (stopAtTime === undefined || (last.groupTime < stopAtTime && next.groupTime <= stopAtTime))
            expect(fits).toBe(false)
          }
          return true
        },
      ),
      { numRuns: 500 },
    )
  })
})
