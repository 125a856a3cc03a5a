import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { takeRecords, type FetchedBatch } from './fetchedRecords.js'

const TRANSACTIONAL = 0x10
const CONTROL = 0x20

/** One step of a partition's log: a plain batch, a transaction's batch, or a transaction's end. */
type Step =
  | { kind: 'plain'; producer: number; records: number }
  | { kind: 'txn'; producer: number; records: number }
  | { kind: 'end'; producer: number; commit: boolean }

interface Log {
  batches: FetchedBatch[]
  /** Offsets of the records a read_committed reader must see. */
  visible: bigint[]
  /** The aborted transactions: producer, first offset, offset of the abort marker. */
  aborted: { producerId: bigint; firstOffset: bigint; markerOffset: bigint }[]
  end: bigint
}

const controlKey = (commit: boolean): Buffer => {
  const key = Buffer.alloc(4)
  key.writeInt16BE(commit ? 1 : 0, 2)
  return key
}

/** Builds the log a broker would hold for `steps`: offsets in order, each transaction's records until its end. */
function buildLog(steps: Step[]): Log {
  const batches: FetchedBatch[] = []
  const visible: bigint[] = []
  const aborted: Log['aborted'] = []
  const open = new Map<number, { first: bigint; offsets: bigint[] }>()
  let offset = 0n
  const batch = (producer: number, attributes: number, records: number, key?: Buffer): FetchedBatch => {
    const b: FetchedBatch = {
      firstOffset: offset,
      lastOffsetDelta: records - 1,
      firstTimestamp: 1000n,
      attributes,
      producerId: BigInt(producer),
      records: Array.from({ length: records }, (_, i) => ({
        offsetDelta: i,
        timestampDelta: BigInt(i),
        key: key ?? null,
        value: Buffer.from(`v${offset + BigInt(i)}`),
        headers: [[Buffer.from('h'), Buffer.from(String(offset + BigInt(i)))]],
      })),
    }
    offset += BigInt(records)
    batches.push(b)
    return b
  }
  for (const step of steps) {
    if (step.kind === 'plain') {
      const b = batch(step.producer + 100, 0, step.records)
      for (let i = 0; i < step.records; i++) visible.push(b.firstOffset + BigInt(i))
    } else if (step.kind === 'txn') {
      const txn = open.get(step.producer) ?? { first: offset, offsets: [] }
      open.set(step.producer, txn)
      const b = batch(step.producer, TRANSACTIONAL, step.records)
      for (let i = 0; i < step.records; i++) txn.offsets.push(b.firstOffset + BigInt(i))
    } else {
      const txn = open.get(step.producer)
      if (txn === undefined) continue
      open.delete(step.producer)
      const marker = batch(step.producer, TRANSACTIONAL | CONTROL, 1, controlKey(step.commit))
      if (step.commit) visible.push(...txn.offsets)
      else aborted.push({ producerId: BigInt(step.producer), firstOffset: txn.first, markerOffset: marker.firstOffset })
    }
  }
  // transactions still open are past the last stable offset: a read_committed fetch stops before them
  let stable = offset
  for (const txn of open.values()) if (txn.first < stable) stable = txn.first
  return {
    batches: batches.filter((b) => b.firstOffset + BigInt(b.lastOffsetDelta) < stable),
    visible: visible.filter((o) => o < stable).sort((a, b) => (a < b ? -1 : 1)),
    aborted,
    end: stable,
  }
}

const steps = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant('plain' as const), producer: fc.nat(2), records: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ kind: fc.constant('txn' as const), producer: fc.nat(2), records: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ kind: fc.constant('end' as const), producer: fc.nat(2), commit: fc.boolean() }),
  ),
  { maxLength: 40 },
)

describe('takeRecords', () => {
  it('reads a log in fetches of any size from any position: every committed record once, in order, none aborted', () => {
    fc.assert(
      fc.property(steps, fc.nat(), fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1 }), (s, at, sizes) => {
        const log = buildLog(s)
        const position0 = log.end === 0n ? 0n : BigInt(at) % (log.end + 1n)
        const seen: bigint[] = []
        let position = position0
        let round = 0
        while (position < log.end) {
          // the broker answers whole batches from the one holding the position, a few at a time
          const from = log.batches.findIndex((b) => b.firstOffset + BigInt(b.lastOffsetDelta) >= position)
          const chunk = log.batches.slice(from, from + (sizes[round++ % sizes.length] as number))
          const last = chunk.at(-1) as FetchedBatch
          const chunkEnd = last.firstOffset + BigInt(last.lastOffsetDelta)
          // the aborted transactions that overlap the fetched range (a broker lists them again in every fetch)
          const aborted = log.aborted.filter((a) => a.firstOffset <= chunkEnd && a.markerOffset >= position)
          const { records, next } = takeRecords(chunk, position, aborted)
          for (const r of records) {
            seen.push(BigInt(r.offset))
            expect(r.value?.toString()).toBe(`v${r.offset}`)
            expect(r.headers?.['h']?.toString()).toBe(r.offset)
          }
          expect(next).toBe(chunkEnd + 1n)
          position = next
        }
        expect(seen).toEqual(log.visible.filter((o) => o >= position0))
      }),
      { numRuns: 3000 },
    )
  })

  it('reads every record of a plain topic, control batches aside, when nothing is aborted (read_uncommitted)', () => {
    const log = buildLog([
      { kind: 'plain', producer: 0, records: 3 },
      { kind: 'plain', producer: 1, records: 2 },
    ])
    const { records, next } = takeRecords(log.batches, 1n, undefined)
    expect(records.map((r) => r.offset)).toEqual(['1', '2', '3', '4'])
    expect(next).toBe(5n)
  })

  it('moves past a fetch of only markers and aborted records, handing nothing', () => {
    const log = buildLog([
      { kind: 'txn', producer: 0, records: 2 },
      { kind: 'end', producer: 0, commit: false },
    ])
    expect(takeRecords(log.batches, 0n, log.aborted)).toEqual({ records: [], next: 3n })
  })
})
