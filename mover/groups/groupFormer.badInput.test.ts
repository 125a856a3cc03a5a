/**
 * What the former does for the mover's bad-input handling: a refused record
 * set changes nothing (so one controller can be frozen while the others go
 * on), a re-send is told from a conflicting duplicate by its times, an
 * operator's discard takes a record set across a gap and reports the lost
 * seqs, and a dead-lettered record moves the resume offset past it.
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { XrcError } from '../../lib/errors.js'
import type { RecordSet, Update } from '../../schemas/recordSet.js'
import { createGroupFormer } from './groupFormer.js'
import type { SessionLayout } from '../intake/index.js'

const layout: SessionLayout = {
  name: 's',
  blockSize: 4,
  controllers: [
    { id: 0, volumes: [{ name: 'a', blocks: 10 }] },
    { id: 1, volumes: [{ name: 'b', blocks: 10 }] },
  ],
}

const upd = (seq: number, time: number, block = 0): Update => ({
  seq,
  time,
  volume: '',
  block,
  data: Buffer.alloc(4, seq),
})

function updates(controller: number, ...us: Update[]): RecordSet {
  const volume = controller === 0 ? 'a' : 'b'
  const withVolume = us.map((u) => ({ ...u, volume: u.volume || volume }))
  const first = withVolume[0] as Update
  const last = withVolume[withVolume.length - 1] as Update
  return {
    session: 's',
    controller,
    kind: 'UPDATES',
    firstSeq: first.seq,
    lastSeq: last.seq,
    minTime: first.time,
    maxTime: last.time,
    updates: withVolume,
  }
}

const heartbeat = (controller: number, nextSeq: number, time: number): RecordSet => ({
  session: 's',
  controller,
  kind: 'HEARTBEAT',
  firstSeq: nextSeq,
  lastSeq: nextSeq - 1,
  minTime: time,
  maxTime: time,
  updates: [],
})

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn()
    return undefined
  } catch (err) {
    return err instanceof XrcError ? err.code : 'not an XrcError'
  }
}

describe('a refused record set changes nothing', () => {
  it('after a gap, a regression or an invalid record the controller takes its right next record set at the same offset', () => {
    fc.assert(
      fc.property(fc.constantFrom('gap', 'regression', 'invalid', 'conflict'), (kind) => {
        const f = createGroupFormer({ layout })
        f.add(0, updates(0, upd(1, 10, 1), upd(2, 20, 2)))
        f.add(0, heartbeat(1, 1, 25))
        const before = { t: f.consistencyTime(), seq: f.expectedSeq(0), bytes: f.bufferedBytes(0) }
        const bad = {
          gap: updates(0, upd(5, 30)),
          regression: updates(0, upd(3, 15)),
          invalid: updates(0, upd(3, 30, 99)),
          conflict: updates(0, upd(2, 40)),
        }[kind]
        expect(codeOf(() => f.add(1, bad))).toBe(
          {
            gap: 'XRC_SEQUENCE_GAP',
            regression: 'XRC_TIME_REGRESSION',
            invalid: 'XRC_INVALID_RECORD',
            conflict: 'XRC_DUPLICATE_SEQUENCE',
          }[kind],
        )
        expect({ t: f.consistencyTime(), seq: f.expectedSeq(0), bytes: f.bufferedBytes(0) }).toEqual(before)
        // the same offset again (the record after a skipped one may be read at it after a restart)
        expect(f.add(1, updates(0, upd(3, 30, 3)))).toEqual({ kind: 'accepted', updates: 1 })
        f.add(2, heartbeat(0, 4, 35))
        f.add(1, heartbeat(1, 1, 40))
        expect(f.cut()?.updates.map((u) => u.seq)).toEqual([1, 2, 3])
      }),
    )
  })

  it('other controllers go on and T waits at the frozen controller', () => {
    const f = createGroupFormer({ layout })
    f.add(0, updates(0, upd(1, 10)))
    f.add(0, heartbeat(1, 1, 12))
    expect(codeOf(() => f.add(1, updates(0, upd(3, 20))))).toBe('XRC_SEQUENCE_GAP')
    f.add(1, updates(1, upd(1, 30)))
    f.add(2, heartbeat(1, 2, 50))
    expect(f.consistencyTime()).toBe(9)
    expect(f.cut()).toMatchObject({ groupTime: 9, updates: [] })
    expect(f.bufferedBytes(1)).toBe(4)
  })
})

describe('duplicates', () => {
  it('drops an exact re-send, also right after a restore whose mark time is one below the true one', () => {
    const f = createGroupFormer({ layout })
    f.add(0, updates(0, upd(1, 10), upd(2, 20)))
    expect(f.add(1, updates(0, upd(2, 20)))).toEqual({ kind: 'duplicate', droppedUpdates: 1 })
    const restored = createGroupFormer({
      layout,
      restore: {
        groupSeq: 1,
        groupTime: 19,
        controllers: [
          { controller: 0, lastSeq: 2, lastTime: 19, resumeOffset: 1 },
          { controller: 1, lastSeq: 0, lastTime: 19, resumeOffset: 0 },
        ],
      },
    })
    expect(restored.add(1, updates(0, upd(1, 10), upd(2, 20)))).toEqual({ kind: 'duplicate', droppedUpdates: 2 })
  })

  it('refuses seqs seen before with later times (XRC_DUPLICATE_SEQUENCE), and goes on', () => {
    const f = createGroupFormer({ layout })
    f.add(0, updates(0, upd(1, 10), upd(2, 20)))
    expect(codeOf(() => f.add(1, updates(0, upd(1, 99))))).toBe('XRC_DUPLICATE_SEQUENCE')
    expect(f.add(2, updates(0, upd(3, 30)))).toEqual({ kind: 'accepted', updates: 1 })
  })
})

describe('operator decisions', () => {
  it('discardMissing takes the next record set across the gap once, reporting the lost seqs', () => {
    const f = createGroupFormer({ layout })
    f.add(0, updates(0, upd(1, 10)))
    expect(codeOf(() => f.add(1, updates(0, upd(5, 20))))).toBe('XRC_SEQUENCE_GAP')
    f.discardMissing(0)
    expect(f.add(1, updates(0, upd(5, 20)))).toEqual({
      kind: 'accepted',
      updates: 1,
      discarded: { controller: 0, firstSeq: 2, lastSeq: 4 },
    })
    expect(codeOf(() => f.add(2, updates(0, upd(8, 30))))).toBe('XRC_SEQUENCE_GAP')
  })

  it('discardMissing does not let time go back', () => {
    const f = createGroupFormer({ layout })
    f.add(0, updates(0, upd(1, 10)))
    f.discardMissing(0)
    expect(codeOf(() => f.add(1, updates(0, upd(4, 5))))).toBe('XRC_TIME_REGRESSION')
    expect(f.add(1, heartbeat(0, 4, 15))).toEqual({
      kind: 'heartbeat',
      discarded: { controller: 0, firstSeq: 2, lastSeq: 3 },
    })
  })

  it('a skipped record moves the resume offset past it when nothing is buffered', () => {
    const f = createGroupFormer({ layout })
    f.add(0, heartbeat(0, 1, 10))
    f.add(0, heartbeat(1, 1, 10))
    f.skipped(0, 1)
    f.skipped(0, 0) // an earlier offset never moves it back
    expect(f.cut()?.controllers).toEqual([
      { controller: 0, lastSeq: 0, lastTime: 10, resumeOffset: 2 },
      { controller: 1, lastSeq: 0, lastTime: 10, resumeOffset: 1 },
    ])
  })
})
