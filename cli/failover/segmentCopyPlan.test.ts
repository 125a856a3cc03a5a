import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { copyFigures, planSegmentCopy, type SourceCode } from './segmentCopyPlan.js'

/** Segments 0..n-1 on both sides, codes from a small alphabet so that many agree. */
const sides = fc.integer({ min: 0, max: 40 }).chain((n) =>
  fc.record({
    source: fc.tuple(
      ...Array.from({ length: n }, (_, segment) =>
        fc.record({ segment: fc.constant(segment), code: fc.constantFrom('a', 'b', 'c'), lastWrite: fc.nat(100) }),
      ),
    ),
    target: fc.array(fc.option(fc.constantFrom('a', 'b', 'c'), { nil: undefined }), { minLength: n, maxLength: n }),
    hotSince: fc.option(fc.nat(100), { nil: undefined }),
  }),
)

function targetMap(target: readonly (string | undefined)[]): Map<number, string> {
  const m = new Map<number, string>()
  target.forEach((code, segment) => code !== undefined && m.set(segment, code))
  return m
}

describe('planSegmentCopy', () => {
  it('copies or defers exactly the segments whose codes differ, each once', () => {
    fc.assert(
      fc.property(sides, ({ source, target, hotSince }) => {
        const t = targetMap(target)
        const plan = planSegmentCopy(source as SourceCode[], t, hotSince)
        const differing = source.filter((s) => t.get(s.segment) !== s.code).map((s) => s.segment)
        expect([...plan.copy, ...plan.deferred].sort((a, b) => a - b)).toEqual(differing)
        expect(plan.same + differing.length).toBe(source.length)
        expect(new Set(plan.copy).size).toBe(plan.copy.length)
        if (hotSince === undefined) expect(plan.deferred).toEqual([])
        for (const d of plan.deferred) expect(source[d]?.lastWrite).toBeGreaterThan(hotSince ?? Infinity)
      }),
    )
  })

  it('leaves the target equal to the source once the copied segments are copied, but for the deferred', () => {
    fc.assert(
      fc.property(sides, ({ source, target, hotSince }) => {
        const t = targetMap(target)
        const plan = planSegmentCopy(source as SourceCode[], t, hotSince)
        for (const s of plan.copy) t.set(s, source[s]?.code as string)
        const after = planSegmentCopy(source as SourceCode[], t)
        expect(after.copy).toEqual(plan.deferred)
      }),
    )
  })

  it('reports the bytes against a full copy', () => {
    expect(copyFigures(32, 4, 4 << 20, 32 << 20)).toEqual({
      segments: 32,
      segmentsCopied: 4,
      bytesCopied: 4 << 20,
      fullCopyBytes: 32 << 20,
      fraction: 0.125,
    })
  })
})
