import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { allWritesOf, placeRecordSet, writesAfter, type SeenWrite } from './lostWrites.js'

const write = fc.record({
  controller: fc.integer({ min: 0, max: 3 }),
  seq: fc.integer({ min: 1, max: 40 }),
  time: fc.integer({ min: 1, max: 100 }),
})

describe('writesAfter', () => {
  it('counts each (controller, seq) after T once, whatever the duplicates and order', () => {
    fc.assert(
      fc.property(fc.array(write, { maxLength: 80 }), fc.integer({ min: 0, max: 100 }), (writes, t) => {
        // one time per (controller, seq), as a real write has
        const byKey = new Map<string, SeenWrite>()
        for (const w of writes) if (!byKey.has(`${w.controller}:${w.seq}`)) byKey.set(`${w.controller}:${w.seq}`, w)
        const unique = [...byKey.values()]
        const doubled = [...unique, ...unique.slice(0, unique.length >> 1)].reverse()
        const lost = writesAfter(doubled, t)
        const expected = unique.filter((w) => w.time > t)
        expect(lost.count).toBe(expected.length)
        expect(Object.values(lost.byController).reduce((a, b) => a + b, 0)).toBe(expected.length)
        if (expected.length > 0) {
          expect(lost.firstTime).toBe(Math.min(...expected.map((w) => w.time)))
          expect(lost.lastTime).toBe(Math.max(...expected.map((w) => w.time)))
        } else expect(lost.firstTime).toBeUndefined()
      }),
    )
  })
})

describe('placeRecordSet', () => {
  const head = { kind: 'UPDATES', firstSeq: 5, lastSeq: 7, minTime: 10, maxTime: 20 }
  it('places a record set by its time range against T', () => {
    expect(placeRecordSet(head, 20)).toBe('none')
    expect(placeRecordSet(head, 25)).toBe('none')
    expect(placeRecordSet(head, 9)).toBe('all')
    expect(placeRecordSet(head, 10)).toBe('decode')
    expect(placeRecordSet(head, 19)).toBe('decode')
  })
  it('never counts heartbeats or resync reads, which are not host writes', () => {
    expect(placeRecordSet({ ...head, kind: 'HEARTBEAT', firstSeq: 8, lastSeq: 7 }, 0)).toBe('none')
    expect(placeRecordSet({ ...head, kind: 'RESYNC' }, 0)).toBe('none')
  })
  it('gives every seq of a record set after T', () => {
    expect(allWritesOf(2, head).map((w) => [w.controller, w.seq])).toEqual([
      [2, 5],
      [2, 6],
      [2, 7],
    ])
  })
})
