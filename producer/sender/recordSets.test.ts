import avro from 'avsc'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { RECORD_SET_SCHEMA, type RecordSet, type Update } from '../../schemas/recordSet.js'
import { RESYNC_WINDOW_REASON_MAX, windowEnd, type ResyncWindow } from '../../schemas/resyncWindow.js'
import { HEADERS } from '../../schemas/topicNames.js'
import { recordSetBaseBytes } from '../../schemas/wireSizes.js'
import { cutRecordSets, cutStream, heartbeatRecordSet, lastSeqOf, type StreamItem } from './recordSets.js'
import { recordSetHeaders } from '../../schemas/recordSet.js'

const type = avro.Type.forSchema(RECORD_SET_SCHEMA as unknown as avro.Schema)

/** Contiguous updates from seq `first`, times non-decreasing, sizes from `sizes`. */
function updates(first: number, sizes: number[], steps: number[]): { update: Update; end: number }[] {
  let time = 1_700_000_000_000_000
  return sizes.map((size, i) => {
    time += steps[i % steps.length] ?? 0
    return {
      update: { seq: first + i, time, volume: `vol${i % 3}`, block: i, data: Buffer.alloc(size, i) },
      end: (i + 1) * 1000,
    }
  })
}

describe('cutRecordSets', () => {
  it('covers every update once, in order, within the limits; each record set keeps the contract', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1e9 }),
        fc.array(fc.integer({ min: 512, max: 8192 }), { maxLength: 120 }),
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1000, max: 100_000 }),
        (first, sizes, steps, maxUpdates, maxBytes) => {
          const items = updates(first, sizes, steps)
          const cuts = cutRecordSets('sess', 2, items, { maxUpdates, maxBytes })
          expect(cuts.flatMap((c) => c.recordSet.updates)).toEqual(items.map((i) => i.update))
          let nextSeq = first
          for (const c of cuts) {
            const rs = c.recordSet
            expect(rs).toMatchObject({ session: 'sess', controller: 2, kind: 'UPDATES', firstSeq: nextSeq })
            expect(rs.lastSeq - rs.firstSeq + 1).toBe(rs.updates.length)
            expect(rs.updates.length).toBeLessThanOrEqual(maxUpdates)
            expect(rs.minTime).toBe(rs.updates[0]?.time)
            expect(rs.maxTime).toBe(rs.updates.at(-1)?.time)
            expect(c.last.update).toBe(rs.updates.at(-1))
            const encoded = type.toBuffer(rs).length + 5
            expect(encoded).toBeLessThanOrEqual(c.bytes) // the estimate is an upper bound
            if (rs.updates.length > 1) expect(c.bytes).toBeLessThanOrEqual(maxBytes)
            nextSeq = rs.lastSeq + 1
          }
        },
      ),
    )
  })

  it('cuts resync reads into RESYNC record sets, a new one wherever the kind changes', () => {
    const kinds = ['UPDATES', 'RESYNC', 'RESYNC', 'UPDATES', 'RESYNC'] as const
    const items = updates(1, [512, 512, 512, 512, 512], [1]).map((x, i) => ({ ...x, kind: kinds[i] }))
    const cuts = cutRecordSets('s', 0, items, { maxUpdates: 10, maxBytes: 1e6 })
    expect(cuts.map((c) => [c.recordSet.kind, c.recordSet.firstSeq, c.recordSet.lastSeq])).toEqual([
      ['UPDATES', 1, 1],
      ['RESYNC', 2, 3],
      ['UPDATES', 4, 4],
      ['RESYNC', 5, 5],
    ])
    for (const c of cuts) expect(type.isValid(c.recordSet)).toBe(true)
  })

  it('gives an update larger than maxBytes a record set of its own', () => {
    const items = updates(1, [600, 5000, 600], [1])
    const cuts = cutRecordSets('s', 0, items, { maxUpdates: 10, maxBytes: 2000 })
    expect(cuts.map((c) => c.recordSet.updates.length)).toEqual([1, 1, 1])
  })

  it('refuses input that breaks seq or time order', () => {
    const items = updates(1, [512, 512, 512], [1])
    const gap = [items[0], { ...items[2], update: { ...(items[2]?.update as Update), seq: 4 } }] as typeof items
    expect(() => cutRecordSets('s', 0, gap, { maxUpdates: 10, maxBytes: 1e6 })).toThrow(RangeError)
    const back = [items[0], { ...items[1], update: { ...(items[1]?.update as Update), time: 1 } }] as typeof items
    expect(() => cutRecordSets('s', 0, back, { maxUpdates: 10, maxBytes: 1e6 })).toThrow(/does not follow/)
    expect(cutRecordSets('s', 0, [], { maxUpdates: 10, maxBytes: 1e6 })).toEqual([])
  })
})

describe('heartbeats and headers', () => {
  it('a heartbeat names the next seq and one time, with no updates, and fits the schema', () => {
    const hb = heartbeatRecordSet('s', 4, 17, 123)
    expect(hb).toEqual({
      session: 's',
      controller: 4,
      kind: 'HEARTBEAT',
      firstSeq: 17,
      lastSeq: 16,
      minTime: 123,
      maxTime: 123,
      updates: [],
    })
    expect(type.isValid(hb)).toBe(true)
    expect(type.toBuffer(hb).length + 5).toBeLessThanOrEqual(recordSetBaseBytes('s'))
  })

  it('headers carry the header fields as decimal strings', () => {
    const rs: RecordSet = {
      session: 'x',
      controller: 1,
      kind: 'UPDATES',
      firstSeq: 5,
      lastSeq: 6,
      minTime: 1_700_000_000_000_001,
      maxTime: 1_700_000_000_000_002,
      updates: [],
    }
    expect(recordSetHeaders(rs)).toEqual({
      [HEADERS.session]: 'x',
      [HEADERS.controller]: '1',
      [HEADERS.kind]: 'UPDATES',
      [HEADERS.firstSeq]: '5',
      [HEADERS.lastSeq]: '6',
      [HEADERS.minTime]: '1700000000000001',
      [HEADERS.maxTime]: '1700000000000002',
    })
  })
})

describe('cutStream', () => {
  it('sends a resync window event as a heartbeat of its own, in its place between the writes', () => {
    const items = updates(1, [512, 512, 512, 512], [1])
    const at = (i: number): number => (items[i]?.update.time as number) + 1
    const begin: ResyncWindow = { event: 'BEGIN', epoch: 2, consistentUntil: at(0) - 5, blocks: 9, reason: 'operator' }
    const stream: (StreamItem & { end: number })[] = [
      items[0] as (typeof items)[number],
      { kind: 'WINDOW', entry: { nextSeq: 2, time: at(0), window: begin }, end: 1500 },
      items[1] as (typeof items)[number],
      items[2] as (typeof items)[number],
      { kind: 'WINDOW', entry: { nextSeq: 4, time: at(2), window: windowEnd(2) }, end: 3500 },
    ]
    const cuts = cutStream('s', 3, stream, { maxUpdates: 10, maxBytes: 1e6 })
    expect(
      cuts.map((c) => [c.recordSet.kind, c.recordSet.firstSeq, c.recordSet.lastSeq, c.recordSet.window?.event]),
    ).toEqual([
      ['UPDATES', 1, 1, undefined],
      ['HEARTBEAT', 2, 1, 'BEGIN'],
      ['UPDATES', 2, 3, undefined],
      ['HEARTBEAT', 4, 3, 'END'],
    ])
    expect(cuts[1]?.recordSet).toEqual({ ...heartbeatRecordSet('s', 3, 2, at(0)), window: begin })
    expect(cuts.map((c) => [c.last.end, lastSeqOf(c.last)])).toEqual([
      [1000, 1],
      [1500, 1],
      [3000, 3],
      [3500, 3],
    ])
    for (const c of cuts) {
      expect(type.isValid(c.recordSet)).toBe(true)
      expect(type.toBuffer(c.recordSet).length + 5).toBeLessThanOrEqual(c.bytes)
    }
    const beat = cuts[1]?.recordSet as RecordSet
    expect(recordSetHeaders(beat)[HEADERS.window]).toBe('BEGIN:2')
    expect(recordSetHeaders(cuts[0]?.recordSet as RecordSet)[HEADERS.window]).toBeUndefined()
    // the longest reason still fits the size bound
    const long = { ...begin, reason: 'r'.repeat(RESYNC_WINDOW_REASON_MAX) }
    const [only] = cutStream('s', 3, [{ kind: 'WINDOW', entry: { nextSeq: 1, time: 9, window: long } }], {
      maxUpdates: 1,
      maxBytes: 1e6,
    })
    expect(type.toBuffer(only?.recordSet).length + 5).toBeLessThanOrEqual(only?.bytes as number)
  })
})
