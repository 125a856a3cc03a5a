/**
 * Property tests of the connection gate: for any arrivals (times, open
 * connections) and a close at any point, a connection is served exactly
 * while the server is open and under its bound, refusals are logged at most
 * once per interval, and the logged counts add up to every refusal logged
 * so far.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ConnectionGate } from './admission.js'

describe('ConnectionGate', () => {
  it('serves under the bound, drops once closing, logs refusals at most once per interval with their count', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 2000 }),
        fc.array(fc.record({ advance: fc.nat(1500), open: fc.nat(12) }), { maxLength: 100 }),
        fc.nat(100),
        (max, every, arrivals, closeAt) => {
          const gate = new ConnectionGate(max, every)
          let now = 1_000_000
          let lastLog: number | undefined
          let refused = 0
          let logged = 0
          arrivals.forEach((a, i) => {
            if (i === closeAt) {
              expect(gate.close()).toBe(true)
              expect(gate.close()).toBe(false)
            }
            now += a.advance
            const admission = gate.admit(a.open, now)
            if (gate.closing) {
              expect(admission).toEqual({ kind: 'drop' })
              return
            }
            if (a.open < max) {
              expect(admission).toEqual({ kind: 'serve' })
              return
            }
            expect(admission.kind).toBe('refuse')
            refused++
            const due = lastLog === undefined || now - lastLog >= every
            if (admission.kind === 'refuse' && admission.log) {
              expect(due).toBe(true)
              lastLog = now
              logged += admission.log.refused
              // every refusal up to this one is reported once
              expect(logged).toBe(refused)
            } else expect(due).toBe(false)
          })
        },
      ),
    )
  })
})
