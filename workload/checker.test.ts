import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import type { BlockHead } from './blockContent.js'
import { checkObservation } from './checker.js'
import { WriteLog, blockKey } from './writeLog.js'

function heads(entries: [string, number, number, BlockHead['dependsOn']?][]): Map<string, BlockHead> {
  return new Map(
    entries.map(([v, b, id, dep]) => [blockKey(v, b), dep ? { writeId: id, dependsOn: dep } : { writeId: id }]),
  )
}

describe('checkObservation', () => {
  it('accepts exactly the writes up to T', () => {
    const log = new WriteLog()
    const x = log.begin('a', 0)
    log.ack(x.id, 10)
    const y = log.begin('b', 0, { volume: 'a', block: 0, writeId: x.id })
    log.ack(y.id, 20)
    expect(checkObservation(log, { groupTime: 5, heads: heads([]) })).toEqual([])
    expect(checkObservation(log, { groupTime: 15, heads: heads([['a', 0, x.id]]) })).toEqual([])
    expect(
      checkObservation(log, {
        groupTime: 25,
        heads: heads([
          ['a', 0, x.id],
          ['b', 0, y.id, { volume: 'a', block: 0, writeId: x.id }],
        ]),
      }),
    ).toEqual([])
  })

  it('reports Y without X as a dependency violation and a mixed state', () => {
    const log = new WriteLog()
    const x = log.begin('a', 0)
    log.ack(x.id, 10)
    const y = log.begin('b', 0, { volume: 'a', block: 0, writeId: x.id })
    log.ack(y.id, 20)
    const v = checkObservation(log, {
      groupTime: 25,
      heads: heads([['b', 0, y.id, { volume: 'a', block: 0, writeId: x.id }]]),
    })
    expect(v.map((e) => e.kind).sort()).toEqual(['dependency', 'mixed'])
  })

  it('reports a write newer than T, and a write missing at T', () => {
    const log = new WriteLog()
    const w1 = log.begin('a', 0)
    log.ack(w1.id, 10)
    const w2 = log.begin('a', 0)
    log.ack(w2.id, 20)
    expect(checkObservation(log, { groupTime: 15, heads: heads([['a', 0, w2.id]]) })[0]?.kind).toBe('mixed')
    expect(checkObservation(log, { groupTime: 25, heads: heads([['a', 0, w1.id]]) })[0]?.kind).toBe('mixed')
  })

  it('allows an in-doubt write only between the last write <= T and the first > T', () => {
    const log = new WriteLog()
    const w1 = log.begin('a', 0)
    log.ack(w1.id, 10)
    const lost = log.begin('a', 0)
    log.inDoubt(lost.id)
    const w3 = log.begin('a', 0)
    log.ack(w3.id, 30)
    expect(checkObservation(log, { groupTime: 20, heads: heads([['a', 0, lost.id]]) })).toEqual([])
    expect(checkObservation(log, { groupTime: 35, heads: heads([['a', 0, lost.id]]) })[0]?.kind).toBe('mixed')
    expect(checkObservation(log, { groupTime: 5, heads: heads([['a', 0, lost.id]]) })[0]?.kind).toBe('mixed')
  })

  it('never accepts a refused write', () => {
    const log = new WriteLog()
    log.ack(log.begin('a', 0).id, 10)
    const refused = log.begin('a', 0)
    log.refused(refused.id)
    expect(checkObservation(log, { groupTime: 20, heads: heads([['a', 0, refused.id]]) })[0]?.kind).toBe('mixed')
  })

  it('reports bytes no write put there', () => {
    const log = new WriteLog()
    log.ack(log.begin('a', 0).id, 10)
    expect(checkObservation(log, { groupTime: 20, heads: heads([['a', 0, 999]]) })[0]?.kind).toBe('unknown-write')
  })

  it('accepts the model image at every T and rejects any single-block corruption of it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 5 })), {
          minLength: 1,
          maxLength: 40,
        }),
        fc.integer({ min: 0, max: 300 }),
        (ops, tCut) => {
          const log = new WriteLog()
          let time = 0
          const model = new Map<string, number>()
          for (const [block, dt] of ops) {
            time += dt
            const w = log.begin('v', block)
            log.ack(w.id, time)
            if (time <= tCut) model.set(blockKey('v', block), w.id)
          }
          const image = new Map([...model].map(([k, id]) => [k, { writeId: id }]))
          expect(checkObservation(log, { groupTime: tCut, heads: image })).toEqual([])
          const [someKey] = [...log.blocks()].map(([k]) => k)
          if (someKey !== undefined) {
            const corrupted = new Map(image)
            const current = image.get(someKey)?.writeId ?? 0
            const other = log.writesTo('v', Number(someKey.split('/')[1])).find((w) => w.id !== current)
            if (other) {
              corrupted.set(someKey, { writeId: other.id })
              expect(checkObservation(log, { groupTime: tCut, heads: corrupted }).length).toBeGreaterThan(0)
            }
          }
        },
      ),
    )
  })
})
