import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ExportStats } from './exportStats.js'

describe('ExportStats', () => {
  it('counts connections in and out, writes and their bytes, and rates over the last ten whole seconds', () => {
    type Step = { kind: 'enter' } | { kind: 'leave' } | { kind: 'write'; bytes: number } | { kind: 'tick'; ms: number }
    const stepArb: fc.Arbitrary<Step> = fc.oneof(
      fc.constant({ kind: 'enter' as const }),
      fc.constant({ kind: 'leave' as const }),
      fc.record({ kind: fc.constant('write' as const), bytes: fc.nat(1 << 20) }),
      fc.record({ kind: fc.constant('tick' as const), ms: fc.nat(3000) }),
    )
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 100 }), (steps) => {
        let now = 1_000_000
        const stats = new ExportStats(() => now)
        let connections = 0
        const writes: { at: number; bytes: number }[] = []
        for (const step of steps) {
          if (step.kind === 'enter') {
            stats.entered()
            connections++
          } else if (step.kind === 'leave') {
            // only a connection that entered leaves
            if (connections === 0) continue
            stats.left()
            connections--
          } else if (step.kind === 'write') {
            stats.written(step.bytes)
            writes.push({ at: now, bytes: step.bytes })
          } else now += step.ms
          const second = Math.floor(now / 1000)
          const recent = writes.filter((w) => {
            const s = Math.floor(w.at / 1000)
            return s < second && s >= second - 10
          })
          expect(stats.counts()).toEqual({
            connections,
            writes: writes.length,
            writeBytes: writes.reduce((a, w) => a + w.bytes, 0),
            writesPerSecond: recent.length / 10,
            writeBytesPerSecond: recent.reduce((a, w) => a + w.bytes, 0) / 10,
          })
          expect(stats.connections).toBe(connections)
        }
      }),
    )
  })
})
