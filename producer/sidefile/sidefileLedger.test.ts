import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { SidefileLedger, type SegmentSpan } from './sidefileLedger.js'

const HEADER = 12

/** One step of a random run: append, make durable, trim, or a writer that waits or gives up. */
type Op =
  | { op: 'append'; size: number }
  | { op: 'durable'; fraction: number }
  | { op: 'trim'; fraction: number }
  | { op: 'giveUp'; index: number }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('append' as const), size: fc.integer({ min: 0, max: 3000 }) }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant('durable' as const), fraction: fc.double({ min: 0, max: 1 }) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('trim' as const), fraction: fc.double({ min: 0, max: 1 }) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('giveUp' as const), index: fc.nat() }), weight: 1 },
)

interface Writer {
  id: number
  size: number
}

/** Drives a ledger as the sidefile does (admit, place or wait, grant after each trim) and checks its invariants after every step. */
function run(maxBytes: number, segmentBytes: number, ops: readonly Op[]): void {
  const ledger = new SidefileLedger<Writer>({ maxBytes, segmentBytes, headerBytes: HEADER })
  // the model: every placed entry not yet trimmed, and the writers waiting, in order
  const entries: { position: number; end: number; segment: SegmentSpan }[] = []
  const waiting: Writer[] = []
  const granted: number[] = []
  let nextWriter = 0
  let everyEnd: number[] = []

  const place = (size: number): void => {
    const p = ledger.place(size)
    expect(p.position).toBe(entries.at(-1)?.end ?? ledger.start)
    expect(p.end - p.position).toBe(HEADER + size)
    entries.push({ position: p.position, end: p.end, segment: p.segment })
    everyEnd.push(p.end)
  }
  const grantAll = (): void => {
    for (let w = ledger.grant(); w !== undefined; w = ledger.grant()) {
      // oldest first: the granted writer is the head of the model's queue
      expect(w).toBe(waiting.shift())
      granted.push(w.id)
      place(w.size)
    }
    // the head that was not granted does not fit
    const head = waiting[0]
    if (head !== undefined) expect(ledger.held + HEADER + head.size).toBeGreaterThan(maxBytes)
  }

  for (const step of ops) {
    if (step.op === 'append') {
      const admission = ledger.admit(step.size)
      if (HEADER + step.size > maxBytes) expect(admission).toBe('never')
      else if (waiting.length > 0) expect(admission).toBe('wait')
      if (admission === 'now') place(step.size)
      else if (admission === 'wait') {
        const w = { id: nextWriter++, size: step.size }
        waiting.push(w)
        ledger.enqueueWaiter(w)
      }
    } else if (step.op === 'durable') {
      const ends = everyEnd.filter((e) => e > ledger.durableEnd)
      const to = ends[Math.floor(step.fraction * ends.length)]
      if (to !== undefined) ledger.markDurable(to)
    } else if (step.op === 'trim') {
      const durable = entries.filter((e) => e.end <= ledger.durableEnd)
      const to = durable[Math.floor(step.fraction * durable.length)]
      if (to === undefined) continue
      const last = ledger.segments.at(-1)
      const released = ledger.trim(to.end)
      entries.splice(0, entries.indexOf(to) + 1)
      everyEnd = everyEnd.filter((e) => e > to.end)
      expect(ledger.start).toBe(to.end)
      for (const s of released) {
        expect(s).not.toBe(last)
        expect(s.end).toBeLessThanOrEqual(ledger.start)
      }
      // the caller deletes some of them (a failed unlink leaves the rest for the next trim)
      for (const s of released.slice(0, Math.ceil(released.length / 2))) ledger.forget(s)
      grantAll()
    } else {
      const w = waiting[step.index % Math.max(1, waiting.length)]
      if (w !== undefined) {
        expect(ledger.removeWaiter(w)).toBe(true)
        expect(ledger.removeWaiter(w)).toBe(false)
        waiting.splice(waiting.indexOf(w), 1)
        grantAll() // a smaller writer behind may fit now
      }
    }
    checkInvariants(ledger, entries, waiting.length, maxBytes, segmentBytes)
  }
  expect(granted).toEqual([...granted].sort((a, b) => a - b))
}

function checkInvariants(
  ledger: SidefileLedger<Writer>,
  entries: readonly { position: number; end: number; segment: SegmentSpan }[],
  waiting: number,
  maxBytes: number,
  segmentBytes: number,
): void {
  expect(ledger.held).toBeLessThanOrEqual(maxBytes)
  expect(ledger.held).toBe(ledger.end - ledger.start)
  expect(ledger.entries).toBe(entries.length)
  expect(ledger.waiting).toBe(waiting)
  expect(ledger.durableEnd).toBeLessThanOrEqual(ledger.end)
  const segments = ledger.segments
  if (segments.length === 0) return
  // contiguous and sorted, covering every held entry, the last ending at the end
  for (let i = 1; i < segments.length; i++)
    expect((segments[i] as SegmentSpan).base).toBe((segments[i - 1] as SegmentSpan).end)
  expect((segments[0] as SegmentSpan).base).toBeLessThanOrEqual(ledger.start)
  expect((segments.at(-1) as SegmentSpan).end).toBe(ledger.end)
  for (const e of entries) {
    // an entry never spans two segments, and segmentAt finds its segment
    expect(e.position).toBeGreaterThanOrEqual(e.segment.base)
    expect(e.end).toBeLessThanOrEqual(e.segment.end)
    expect(ledger.segmentAt(e.position)).toBe(e.segment)
  }
  // a segment passes segmentBytes only when one entry alone does
  for (const s of segments) {
    const inside = entries.filter((e) => e.segment === s)
    if (inside.length > 1) expect(s.end - s.base).toBeLessThanOrEqual(segmentBytes)
  }
}

describe('SidefileLedger', () => {
  it('keeps segments contiguous, entries within one segment, the bound held and waiters in FIFO order', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 64, max: 20_000 }),
        fc.integer({ min: 256, max: 8192 }),
        fc.array(opArb, { maxLength: 200 }),
        (maxBytes, segmentBytes, ops) => run(maxBytes, segmentBytes, ops),
      ),
      { numRuns: 300 },
    )
  })

  it('never releases the last segment; seals it once trimmed empty past rollBytes, so the next entry opens a new one', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 2000 }), { minLength: 1, maxLength: 40 }), (sizes) => {
        const ledger = new SidefileLedger<Writer>({ maxBytes: 1 << 30, segmentBytes: 1 << 20, headerBytes: HEADER })
        for (const size of sizes) ledger.place(size)
        ledger.markDurable(ledger.end)
        const last = ledger.segments.at(-1) as SegmentSpan
        expect(ledger.trim(ledger.end)).toEqual([])
        expect(ledger.segments).toContain(last)
        const next = ledger.place(1)
        expect(next.opened).toBe(last.end - last.base >= ledger.rollBytes)
        // now the old last segment is released, and only it
        ledger.markDurable(next.end)
        expect(ledger.trim(next.end)).toEqual(next.opened ? [last] : [])
      }),
    )
  })

  it('refuses a trim beyond the durable end or off an entry boundary, changing nothing', () => {
    const ledger = new SidefileLedger<Writer>({ maxBytes: 1 << 20, segmentBytes: 4096, headerBytes: HEADER })
    const a = ledger.place(100)
    const b = ledger.place(100)
    ledger.markDurable(a.end)
    expect(() => ledger.trim(b.end)).toThrow(/beyond the durable end/)
    expect(() => ledger.trim(a.end - 1)).toThrow(/not an entry boundary/)
    expect(ledger.start).toBe(0)
    expect(ledger.trim(0)).toEqual([])
    ledger.trim(a.end)
    expect(ledger).toMatchObject({ start: a.end, entries: 1 })
  })

  it('recovers its state from the segments and entry ends found on disk', () => {
    const segments = [
      { base: 1000, end: 1500 },
      { base: 1500, end: 1700 },
    ]
    const ledger = new SidefileLedger<Writer>({
      maxBytes: 1 << 20,
      segmentBytes: 4096,
      headerBytes: HEADER,
      segments,
      ends: [1200, 1500, 1700],
    })
    expect(ledger).toMatchObject({ start: 1000, end: 1700, durableEnd: 1700, held: 700, entries: 3 })
    expect(ledger.segmentAt(1500)).toBe(ledger.segments[1])
    expect(ledger.place(10)).toMatchObject({ position: 1700, opened: false })
  })
})
