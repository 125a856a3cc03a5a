/**
 * Property test of one controller's stream: for any sequence of record sets
 * (in order, re-sent, overlapping, with gaps, with times going back), each
 * is either taken or refused; a refusal changes nothing, and what is taken
 * keeps the stream's rules: seqs contiguous (a gap only when the operator
 * accepted it, and then reported), the covered time never going back, the
 * buffer holding each seq once, in order.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { XrcError } from '../../lib/errors.js'
import type { RecordSet } from '../../schemas/recordSet.js'
import { ControllerStream } from './controllerStream.js'

const recordArb = fc.record({
  heartbeat: fc.boolean(),
  /** Offset from the stream's next seq: negative re-sends, positive gaps. */
  seqShift: fc.integer({ min: -4, max: 2 }),
  count: fc.integer({ min: 1, max: 3 }),
  /** Offset of the first time from the stream's latest: negative goes back. */
  timeShift: fc.integer({ min: -3, max: 5 }),
  step: fc.constantFrom(0, 0, 1, 2),
  acceptGap: fc.boolean(),
})

type RecordShape = typeof recordArb extends fc.Arbitrary<infer T> ? T : never

function recordSet(r: RecordShape, nextSeq: number, latest: number): RecordSet {
  const firstSeq = Math.max(0, nextSeq + r.seqShift)
  const first = Math.max(0, latest + r.timeShift)
  if (r.heartbeat)
    return {
      session: 's',
      controller: 0,
      kind: 'HEARTBEAT',
      firstSeq,
      lastSeq: firstSeq - 1,
      minTime: first,
      maxTime: first,
      updates: [],
    }
  const updates = Array.from({ length: r.count }, (_, i) => ({
    seq: firstSeq + i,
    time: first + i * r.step,
    volume: 'v',
    block: 0,
    data: Buffer.alloc(4, i),
  }))
  const last = updates[updates.length - 1]?.time ?? first
  return {
    session: 's',
    controller: 0,
    kind: 'UPDATES',
    firstSeq,
    lastSeq: firstSeq + r.count - 1,
    minTime: first,
    maxTime: last,
    updates,
  }
}

const snapshot = (s: ControllerStream) => ({
  nextSeq: s.nextSeq,
  covered: s.covered,
  pending: [...s.buffer.pending()].map((u) => u.seq),
  bytes: s.buffer.bytes,
})

describe('ControllerStream', () => {
  it('takes or refuses each record set; a refusal changes nothing; what is taken keeps seqs contiguous and time forward', () => {
    fc.assert(
      fc.property(fc.array(recordArb, { maxLength: 40 }), (records) => {
        const s = new ControllerStream(0)
        let latest = 10
        let offset = 0
        const taken: number[] = []
        // the operator's acceptance holds until a record set is taken past it
        let gapAccepted = false
        for (const r of records) {
          if (r.acceptGap) s.acceptGap()
          gapAccepted ||= r.acceptGap
          const rs = recordSet(r, s.nextSeq ?? 0, latest)
          const before = snapshot(s)
          let outcome
          try {
            outcome = s.add(offset, rs)
          } catch (err) {
            expect(err).toBeInstanceOf(XrcError)
            expect(['XRC_SEQUENCE_GAP', 'XRC_TIME_REGRESSION', 'XRC_DUPLICATE_SEQUENCE']).toContain(
              (err as XrcError).code,
            )
            expect(snapshot(s)).toEqual(before)
            offset++
            continue
          }
          offset++
          if (before.covered !== undefined) expect(s.covered).toBeGreaterThanOrEqual(before.covered)
          if (outcome.kind === 'duplicate') {
            expect(snapshot(s)).toEqual(before)
            continue
          }
          latest = rs.maxTime
          if (outcome.discarded) {
            // a gap is crossed only as the operator accepted, and reported
            expect(gapAccepted).toBe(true)
            expect(outcome.discarded).toEqual({ controller: 0, firstSeq: before.nextSeq, lastSeq: rs.firstSeq - 1 })
          } else if (before.nextSeq !== undefined) {
            expect(rs.firstSeq).toBeLessThanOrEqual(before.nextSeq)
          }
          gapAccepted = false
          if (outcome.kind === 'accepted' || outcome.kind === 'overlap') {
            const kept = rs.updates.slice(rs.updates.length - outcome.updates)
            // a write is taken only after every time the stream covered before
            if (before.covered !== undefined) expect(kept[0]?.time).toBeGreaterThan(before.covered)
            taken.push(...rs.updates.slice(rs.updates.length - outcome.updates).map((u) => u.seq))
            expect(s.nextSeq).toBe(rs.lastSeq + 1)
          }
          // each seq buffered once, in order
          const pending = [...s.buffer.pending()].map((u) => u.seq)
          expect(pending).toEqual(taken)
          for (let i = 1; i < pending.length; i++) expect(pending[i]).toBeGreaterThan(pending[i - 1] as number)
        }
      }),
      { numRuns: 500 },
    )
  })
})
