import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import type { JournalRecord, UpdatesRange } from '../../schemas/journal.js'
import { resolveMarker, type ReadRecordSet } from '../../schemas/markers.js'
import type { RecordSet } from '../../schemas/recordSet.js'
import {
  RAW_OVERHEAD_BYTES,
  UPDATE_OVERHEAD_BYTES,
  UpdatesBuffer,
  detached,
  type BufferEffects,
} from './updatesBuffer.js'

const BLOCK = 256

/** One updates partition: record sets (or garbage, set aside), and the markers that cut it. */
interface Stream {
  entries: ({ recordSet: RecordSet } | { garbage: true })[]
  markers: JournalRecord[]
}

/** Group 1's marker, reading one range of controller 0. */
function markerOver(range: UpdatesRange): JournalRecord {
  return {
    session: 's',
    groupSeq: 1,
    groupTime: 1_000_000,
    part: 0,
    parts: 1,
    updates: [],
    controllers: [],
    ranges: [range],
  }
}

function recordSet(seqs: number[]): RecordSet {
  return {
    session: 's',
    controller: 0,
    kind: 'UPDATES',
    firstSeq: seqs[0] ?? 1,
    lastSeq: seqs[seqs.length - 1] ?? 0,
    minTime: 1,
    maxTime: 1,
    updates: seqs.map((seq) => ({ seq, time: seq, volume: 'v', block: seq % 5, data: Buffer.alloc(BLOCK, seq) })),
    window: null,
  } as RecordSet
}

/**
 * A stream of `seqs` seqs in record sets of 1..4, with re-sends of earlier
 * record sets and garbage in between, cut into groups at `cuts`; each
 * group's range spans the first sightings of its seqs, garbage set aside.
 */
const streams: fc.Arbitrary<Stream> = fc
  .record({
    sizes: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 25 }),
    noise: fc.array(fc.constantFrom('resend', 'garbage', 'none', 'none'), { maxLength: 40 }),
    cuts: fc.array(fc.integer({ min: 0, max: 100 }), { maxLength: 12 }),
  })
  .map(({ sizes, noise, cuts }) => {
    const entries: Stream['entries'] = []
    const sets: RecordSet[] = []
    let seq = 0
    sizes.forEach((n, i) => {
      const set = recordSet(Array.from({ length: n }, () => ++seq))
      sets.push(set)
      entries.push({ recordSet: set })
      const extra = noise[i]
      if (extra === 'garbage') entries.push({ garbage: true })
      if (extra === 'resend') entries.push({ recordSet: sets[Math.floor((i * 7) % sets.length)] as RecordSet })
    })
    const first = new Map<number, number>()
    entries.forEach((e, offset) => {
      if ('recordSet' in e) for (const u of e.recordSet.updates) if (!first.has(u.seq)) first.set(u.seq, offset)
    })
    const bounds = [...new Set(cuts.map((c) => Math.min(seq, c)))].sort((a, b) => a - b)
    if (bounds[bounds.length - 1] !== seq) bounds.push(seq)
    const markers: JournalRecord[] = []
    let prev = 0
    let prevTo = 0
    bounds.forEach((last, k) => {
      const offsets = [...first].filter(([s]) => s > prev && s <= last).map(([, o]) => o)
      const from = offsets.length > 0 ? Math.min(...offsets) : prevTo
      const to = offsets.length > 0 ? Math.max(...offsets) + 1 : prevTo
      const setAside = entries.flatMap((e, o) => ('garbage' in e && o >= from && o < to ? [o] : []))
      markers.push({
        session: 's',
        groupSeq: k + 1,
        groupTime: 1_000_000,
        part: 0,
        parts: 1,
        updates: [],
        controllers: [],
        ranges: [{ controller: 0, fromOffset: from, toOffset: to, firstSeq: prev + 1, lastSeq: last, setAside }],
        discarded: [],
      })
      prev = last
      prevTo = Math.max(prevTo, to)
    })
    return { entries, markers }
  })

function valueOf(stream: Stream, offset: number): Buffer {
  const e = stream.entries[offset]
  const size = e !== undefined && 'recordSet' in e ? e.recordSet.updates.length * BLOCK : 3
  const value = Buffer.alloc(4 + size)
  value.writeUInt32BE(offset)
  return value
}

function decode(stream: Stream, offset: number): RecordSet {
  const e = stream.entries[offset]
  if (e === undefined || 'garbage' in e) throw new Error(`decoded the set-aside offset ${offset}`)
  return e.recordSet
}

function reference(stream: Stream, marker: JournalRecord): ReturnType<typeof resolveMarker> {
  const all: ReadRecordSet[] = stream.entries.flatMap((e, offset) =>
    'recordSet' in e ? [{ offset, recordSet: e.recordSet }] : [],
  )
  return resolveMarker(marker, () => all, BLOCK, 0)
}

/** Drives a buffer over a stream in the order `choices` picks (deliver a record, announce, apply). */
function drive(stream: Stream, choices: number[], readAheadBytes: number, maxActive: number): void {
  const buffer = new UpdatesBuffer({ readAheadBytes, maxActive })
  let cursor: number | undefined
  let announced = 0
  let applied = 0
  const apply = (effects: BufferEffects): void => {
    for (const [, offset] of effects.start) cursor = offset
    for (const [, offset] of effects.seek) cursor = offset
    for (const d of effects.decode) buffer.admit(0, d.offset, decode(stream, d.offset))
  }
  // the largest record, raw or decoded (decoded updates count their overhead)
  const maxEntry = Math.max(
    ...stream.entries.map((e) => ('recordSet' in e ? e.recordSet.updates.length : 0) * (BLOCK + UPDATE_OVERHEAD_BYTES)),
    0,
  )
  let step = 0
  while (applied < stream.markers.length) {
    const choice = choices[step++ % Math.max(1, choices.length)] ?? 0
    const canDeliver = cursor !== undefined && cursor < stream.entries.length && !buffer.shouldPause(0)
    const canAnnounce = announced < stream.markers.length
    const ready = buffer.headReady()
    const possible = [canDeliver, canAnnounce, ready]
    const action = possible[choice] ? choice : possible.findIndex((p) => p)
    if (action === 0) {
      const offset = cursor as number
      cursor = offset + 1
      const arrival = buffer.arrive(0, offset, valueOf(stream, offset))
      expect(arrival).not.toBe('gap')
      if (arrival === 'decode') buffer.admit(0, offset, decode(stream, offset))
    } else if (action === 1) {
      apply(buffer.announce(stream.markers[announced] as JournalRecord, 100 + announced))
      announced++
    } else if (action === 2) {
      const marker = stream.markers[applied] as JournalRecord
      const got = resolveMarker(marker, (c) => buffer.readForHead(c), BLOCK, 100 + applied)
      expect(got.updates).toEqual(reference(stream, marker).updates)
      apply(buffer.release())
      applied++
    } else {
      throw new Error(`stuck: marker ${applied + 1} not ready, partition paused or read to its end`)
    }
    // the bound: the head group's updates, plus the read-ahead, plus one record, whatever the backlog (decoded
    // read-ahead counts the updates' overhead: at most 1.25 times its raw bytes here)
    const head = buffer.head?.marker.ranges?.[0]
    const headBytes =
      head === undefined
        ? 0
        : stream.entries
            .slice(head.fromOffset, head.toOffset)
            .reduce(
              (n, e) => n + ('recordSet' in e ? e.recordSet.updates.length * (BLOCK + UPDATE_OVERHEAD_BYTES) : 0) + 64,
              0,
            )
    expect(buffer.heldBytes).toBeLessThanOrEqual(headBytes + 1.25 * readAheadBytes + 2 * maxEntry + 64)
  }
}

describe('UpdatesBuffer', () => {
  it('gives each marker exactly the updates the whole stream gives it, in any interleaving (property)', () => {
    fc.assert(
      fc.property(
        streams,
        fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 200 }),
        fc.integer({ min: 1, max: 3000 }),
        fc.integer({ min: 1, max: 4 }),
        (stream, choices, readAhead, maxActive) => drive(stream, choices, readAhead, maxActive),
      ),
      { numRuns: 120 },
    )
  }, 60_000)

  it('never decodes a set-aside offset, even when it is read ahead', () => {
    const stream: Stream = {
      entries: [{ recordSet: recordSet([1, 2]) }, { garbage: true }, { recordSet: recordSet([3]) }],
      markers: [],
    }
    const m = markerOver({ controller: 0, fromOffset: 0, toOffset: 3, firstSeq: 1, lastSeq: 3, setAside: [1] })
    stream.markers.push(m)
    drive(stream, [0, 0, 0, 1, 2], 1 << 20, 2)
  })

  it('keeps a range full of re-sends at one copy of each seq', () => {
    const buffer = new UpdatesBuffer({ readAheadBytes: 1 << 20 })
    const m = markerOver({ controller: 0, fromOffset: 0, toOffset: 1000, firstSeq: 1, lastSeq: 4, setAside: [] })
    buffer.announce(m, 0)
    const set = recordSet([1, 2, 3, 4])
    for (let o = 0; o < 1000; o++) {
      expect(buffer.arrive(0, o, Buffer.alloc(40))).toBe('decode')
      buffer.admit(0, o, set)
    }
    expect(buffer.heldBytes).toBe(UPDATE_OVERHEAD_BYTES + 4 * (BLOCK + UPDATE_OVERHEAD_BYTES))
    expect(buffer.headReady()).toBe(true)
  })

  it('holds a read-ahead value as it is when it is the whole of its memory, else a copy', () => {
    const own = Buffer.allocUnsafeSlow(8192)
    expect(detached(own)).toBe(own)
    const response = Buffer.allocUnsafeSlow(65536).fill(7)
    const view = response.subarray(100, 8292)
    const copy = detached(view)
    expect(copy).not.toBe(view)
    expect(copy.buffer).not.toBe(response.buffer)
    expect(copy.equals(view)).toBe(true)
    expect(detached(response.subarray(0, 8192)).buffer).not.toBe(response.buffer) // a head of a larger buffer too
  })

  it('copies the updates it keeps out of a record set it takes only in part, so what it holds is what it counts', () => {
    const buffer = new UpdatesBuffer({ readAheadBytes: 1 << 20 })
    buffer.announce(markerOver({ controller: 0, fromOffset: 0, toOffset: 2, firstSeq: 1, lastSeq: 4, setAside: [] }), 0)
    expect(buffer.arrive(0, 0, Buffer.alloc(40))).toBe('decode')
    buffer.admit(0, 0, recordSet([1, 2]))
    const record = Buffer.alloc(4 * BLOCK)
    const resent = recordSet([1, 2, 3, 4])
    resent.updates.forEach((u, i) => (u.data = record.subarray(i * BLOCK, (i + 1) * BLOCK)))
    expect(buffer.arrive(0, 1, Buffer.alloc(40))).toBe('decode')
    buffer.admit(0, 1, resent) // seqs 1 and 2 again: only 3 and 4 are kept
    const taken = buffer.readForHead(0).flatMap((r) => r.recordSet.updates.filter((u) => u.seq > 2))
    expect(taken.map((u) => u.seq)).toEqual([3, 4])
    for (const u of taken) expect(u.data.buffer).not.toBe(record.buffer)
  })

  it('counts each raw record read ahead with its overhead, so tiny records pause a partition by their number', () => {
    const readAheadBytes = 64 * 1024
    const buffer = new UpdatesBuffer({ readAheadBytes })
    const m = markerOver({ controller: 0, fromOffset: 0, toOffset: 0, firstSeq: 1, lastSeq: 0, setAside: [] })
    buffer.announce(m, 0)
    // heartbeats: some 60 bytes of value each; by their values alone 1,000 would be 60 KB, under the bound
    let offset = 0
    while (!buffer.shouldPause(0)) expect(buffer.arrive(0, offset++, Buffer.alloc(60))).toBe('raw')
    expect(offset).toBe(Math.ceil(readAheadBytes / (60 + RAW_OVERHEAD_BYTES)))
    expect(buffer.heldBytes).toBe(offset * (60 + RAW_OVERHEAD_BYTES))
  })

  it('re-seeks when a later marker reads below what is held, and reports a gap above the next offset', () => {
    const buffer = new UpdatesBuffer({ readAheadBytes: 1 << 20 })
    const marker = (groupSeq: number, from: number, to: number, first: number, last: number): JournalRecord => ({
      session: 's',
      groupSeq,
      groupTime: 1_000_000,
      part: 0,
      parts: 1,
      updates: [],
      controllers: [],
      ranges: [{ controller: 0, fromOffset: from, toOffset: to, firstSeq: first, lastSeq: last, setAside: [] }],
    })
    expect(buffer.announce(marker(1, 10, 12, 1, 2), 0).start).toEqual(new Map([[0, 10]]))
    expect(buffer.arrive(0, 11, Buffer.alloc(1))).toBe('gap')
    buffer.arrive(0, 10, Buffer.alloc(1))
    buffer.admit(0, 10, recordSet([1]))
    buffer.arrive(0, 11, Buffer.alloc(1))
    buffer.admit(0, 11, recordSet([2]))
    buffer.release()
    // a marker that takes seqs again from offset 5 (say, a journal re-read after a seek back)
    const effects = buffer.announce(marker(2, 5, 12, 1, 2), 1)
    expect(effects.seek).toEqual(new Map([[0, 5]]))
    expect(buffer.arrive(0, 11, Buffer.alloc(1))).toBe('gap')
  })
})
