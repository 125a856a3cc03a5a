import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { QuietSegments, type SegmentCandidate } from './quietSegments.js'

const QUIET_MS = 100

describe('QuietSegments', () => {
  it('hands out a segment once it stayed at one generation for quietMs, not before', () => {
    const q = new QuietSegments(QUIET_MS)
    const at = (generation: number): SegmentCandidate[] => [{ volumeId: 1, segment: 3, generation }]
    expect(q.pick(at(5), 0, 10)).toEqual([])
    expect(q.pick(at(5), 99, 10)).toEqual([])
    expect(q.pick(at(5), 100, 10)).toEqual(at(5))
  })

  it('starts over when a write moved the generation on', () => {
    const q = new QuietSegments(QUIET_MS)
    const at = (generation: number): SegmentCandidate[] => [{ volumeId: 1, segment: 3, generation }]
    q.pick(at(5), 0, 10)
    expect(q.pick(at(6), 150, 10)).toEqual([])
    expect(q.pick(at(6), 249, 10)).toEqual([])
    expect(q.pick(at(6), 250, 10)).toEqual(at(6))
  })

  it('hands out a segment without a row (never written) at once', () => {
    const q = new QuietSegments(QUIET_MS)
    const unwritten = [{ volumeId: 2, segment: 0, generation: 0 }]
    expect(q.pick(unwritten, 0, 10)).toEqual(unwritten)
    expect(q.size).toBe(0)
  })

  it('hands out at most limit, in the candidates’ order, and keeps the others for the next pass', () => {
    const q = new QuietSegments(QUIET_MS)
    const all = [0, 1, 2, 3].map((segment) => ({ volumeId: 1, segment, generation: 1 }))
    q.pick(all, 0, 2)
    expect(q.pick(all, 100, 2)).toEqual(all.slice(0, 2))
    q.done(all.slice(0, 2))
    expect(q.pick(all.slice(2), 100, 2)).toEqual(all.slice(2))
  })

  it('forgets, at the end of a scan, the segments that scan did not see', () => {
    const q = new QuietSegments(QUIET_MS)
    q.pick([{ volumeId: 1, segment: 0, generation: 1 }], 0, 10)
    q.endScan()
    q.pick([{ volumeId: 1, segment: 1, generation: 1 }], 10, 10)
    expect(q.size).toBe(2)
    q.endScan()
    expect(q.size).toBe(1)
    // segment 0 starts over: it must stay quiet for quietMs again from now
    expect(q.pick([{ volumeId: 1, segment: 0, generation: 1 }], 150, 10)).toEqual([])
  })

  it('never hands out a segment whose generation it saw change within quietMs, and hands out every quiet one', () => {
    // passes over 4 segments; between passes, time moves on and some segments are written (generation + 1)
    const pass = fc.record({
      advanceMs: fc.integer({ min: 0, max: 80 }),
      written: fc.uniqueArray(fc.integer({ min: 0, max: 3 }), { maxLength: 4 }),
      seen: fc.uniqueArray(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 4 }),
      limit: fc.integer({ min: 1, max: 4 }),
      endScan: fc.boolean(),
    })
    fc.assert(
      fc.property(fc.array(pass, { minLength: 1, maxLength: 60 }), (passes) => {
        const q = new QuietSegments(QUIET_MS)
        const generation = [1, 1, 1, 1]
        // per segment: since when, and at which generation, the filter has watched it (undefined: it lost sight of
        // it). By generation, not by time: a write in the same millisecond as an observation comes after it
        const observed: ({ since: number; generation: number } | undefined)[] = [
          undefined,
          undefined,
          undefined,
          undefined,
        ]
        const seenInScan = [-1, -1, -1, -1]
        let scan = 0
        let now = 0
        for (const p of passes) {
          now += p.advanceMs
          for (const s of p.written) generation[s] = (generation[s] as number) + 1
          const candidates = p.seen.map((segment) => ({
            volumeId: 1,
            segment,
            generation: generation[segment] as number,
          }))
          const picked = q.pick(candidates, now, p.limit)
          expect(picked.length).toBeLessThanOrEqual(p.limit)
          const pickedSet = new Set(picked.map((c) => c.segment))
          for (const c of candidates) {
            const o = observed[c.segment]
            // the filter's view: watched at this very generation since `o.since`
            const watched = o !== undefined && o.generation === c.generation ? o.since : undefined
            if (pickedSet.has(c.segment)) {
              // safety: seen at this very generation at least quietMs ago
              expect(watched).toBeDefined()
              expect(now - (watched as number)).toBeGreaterThanOrEqual(QUIET_MS)
            } else if (watched !== undefined && now - watched >= QUIET_MS) {
              // liveness: a quiet segment is left out only for the limit
              expect(picked.length).toBe(p.limit)
            }
            if (watched === undefined) observed[c.segment] = { since: now, generation: c.generation }
            seenInScan[c.segment] = scan
          }
          q.done(picked)
          for (const c of picked) observed[c.segment] = undefined
          if (p.endScan) {
            q.endScan()
            for (let s = 0; s < 4; s++) if (seenInScan[s] !== scan) observed[s] = undefined
            scan++
          }
          expect(q.size).toBeLessThanOrEqual(4)
        }
      }),
      { numRuns: 500 },
    )
  })
})
