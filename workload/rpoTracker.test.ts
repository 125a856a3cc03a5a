import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { RpoTracker } from './rpoTracker.js'

describe('RpoTracker', () => {
  it('settles exactly the writes up to each group time, measuring from their acknowledgement', () => {
    const rpo = new RpoTracker()
    rpo.acked(10, 1000)
    rpo.acked(30, 1005)
    rpo.acked(20, 1002)
    expect(rpo.committed(5, 1010)).toBe(0)
    expect(rpo.committed(20, 1100)).toBe(2) // times 10 and 20: 100 ms and 98 ms
    expect(rpo.pending()).toBe(1)
    expect(rpo.committed(30, 1205)).toBe(1) // 200 ms
    const s = rpo.summary()
    expect(s.count).toBe(3)
    expect(s.p50Ms).toBeCloseTo(100, 0)
    expect(s.maxMs).toBeCloseTo(200, 0)
  })

  it('matches a sorted model for any order of acknowledgements and commits', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 1000 }), { maxLength: 200 }),
        fc.array(fc.integer({ min: 0, max: 1000 }), { maxLength: 20 }),
        (times, cuts) => {
          const rpo = new RpoTracker()
          times.forEach((t) => rpo.acked(t, 0))
          let settled = 0
          for (const cut of [...cuts].sort((a, b) => a - b)) {
            settled += rpo.committed(cut, 1)
            expect(rpo.pending()).toBe(times.filter((t) => t > cut).length)
          }
          expect(settled + rpo.pending()).toBe(times.length)
        },
      ),
    )
  })
})
