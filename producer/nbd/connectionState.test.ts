/**
 * Property tests of a connection's state against a model: for any run of
 * handshake steps, requests beginning and replying, NBD_CMD_DISC, shutdown
 * and the socket closing, the phase only moves forward, the bounds pause
 * exactly at MAX_INFLIGHT or MAX_INFLIGHT_BYTES, and the socket is ended by
 * the last reply once closing (or at once when nothing is in progress).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ConnectionState, MAX_INFLIGHT, MAX_INFLIGHT_BYTES, type Phase } from './connectionState.js'

type Event =
  | { kind: 'flags' }
  | { kind: 'transmit' }
  | { kind: 'close' }
  | { kind: 'closed' }
  | { kind: 'begin'; bytes: number }
  | { kind: 'end'; pick: number }
  | { kind: 'disconnect' }
  | { kind: 'shutdown' }

const eventArb: fc.Arbitrary<Event> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ kind: 'flags' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'transmit' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'close' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'closed' as const }) },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('begin' as const),
      bytes: fc.oneof(fc.constant(0), fc.nat(MAX_INFLIGHT_BYTES / 4)),
    }),
  },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('end' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'disconnect' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'shutdown' as const }) },
)

const ORDER: Phase[] = ['flags', 'options', 'transmission', 'closing', 'closed']

describe('ConnectionState', () => {
  it('moves forward only, pauses at the bounds, and ends the socket with the last reply once closing', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 200 }), (events) => {
        const s = new ConnectionState()
        let phase: Phase = 'flags'
        const inflight: number[] = []
        let shuttingDown = false
        for (const ev of events) {
          const before = s.phase
          switch (ev.kind) {
            case 'flags':
              s.flagsRead()
              if (phase === 'flags') phase = 'options'
              break
            case 'transmit':
              s.transmit()
              if (phase === 'options') phase = 'transmission'
              break
            case 'close':
              s.close()
              if (phase !== 'closed') phase = 'closing'
              break
            case 'closed':
              expect(s.closed()).toBe(phase)
              phase = 'closed'
              break
            case 'begin':
              s.begin(ev.bytes)
              inflight.push(ev.bytes)
              break
            case 'end': {
              if (inflight.length === 0) continue
              const [bytes] = inflight.splice(ev.pick % inflight.length, 1) as [number]
              const next = s.end(bytes)
              if (phase === 'closing' && inflight.length === 0) expect(next).toBe('end')
              else expect(next).toBe(phase === 'transmission' ? 'advance' : 'none')
              break
            }
            case 'disconnect': {
              const now = s.disconnect()
              expect(now).toBe(inflight.length === 0)
              if (phase !== 'closed') phase = 'closing'
              break
            }
            case 'shutdown': {
              const now = s.shutdown()
              // outside the transmission phase there is nothing to wait for: the socket ends at once
              expect(now).toBe(phase !== 'transmission' || inflight.length === 0)
              if (phase !== 'closed') phase = 'closing'
              shuttingDown = true
              break
            }
          }
          expect(s.phase).toBe(phase)
          expect(ORDER.indexOf(s.phase)).toBeGreaterThanOrEqual(ORDER.indexOf(before))
          const bytes = inflight.reduce((a, b) => a + b, 0)
          expect(s.inflight).toBe(inflight.length)
          expect(s.inflightBytes).toBe(bytes)
          expect(s.full).toBe(inflight.length >= MAX_INFLIGHT || bytes >= MAX_INFLIGHT_BYTES)
          expect(s.shuttingDown).toBe(shuttingDown)
        }
      }),
    )
  })

  it('a DISC with requests in progress: the last of them to reply ends the socket, none before', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), (n) => {
        const s = new ConnectionState()
        s.flagsRead()
        s.transmit()
        for (let i = 0; i < n; i++) s.begin(512)
        expect(s.disconnect()).toBe(false)
        const answers = Array.from({ length: n }, () => s.end(512))
        expect(answers.slice(0, -1).every((a) => a === 'none')).toBe(true)
        expect(answers.at(-1)).toBe('end')
        expect(s.inflightBytes).toBe(0)
      }),
    )
  })
})
