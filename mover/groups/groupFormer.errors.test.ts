/**
 * Group formation, case by case: every way a record set is refused (gap,
 * time regression, unknown controller, malformed), what is dropped and
 * kept (duplicates, overlaps, stale heartbeats), consistency time, marks,
 * restore, and the early-cut bound.
 */
import { describe, expect, it } from 'vitest'
import { XrcError, type ErrorCode } from '../../lib/errors.js'
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

const data = (blocks: number, fill = 1): Buffer => Buffer.alloc(blocks * 4, fill)
const upd = (seq: number, time: number, block = 0, blocks = 1, volume?: string): Update => ({
  seq,
  time,
  volume: volume ?? '',
  block,
  data: data(blocks, seq),
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

function expectXrc(fn: () => unknown, code: ErrorCode, message: RegExp): XrcError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(XrcError)
    expect((err as XrcError).code).toBe(code)
    expect((err as XrcError).message).toMatch(message)
    return err as XrcError
  }
  throw new Error(`expected ${code}`)
}

describe('sequence rules', () => {
  it('a gap halts with XRC_SEQUENCE_GAP naming the controller, the expected seq and the one got', () => {
    const f = createGroupFormer({ layout })
    f.add(0, updates(0, upd(1, 10), upd(2, 11)))
    const err = expectXrc(
      () => f.add(1, updates(0, upd(4, 12))),
      'XRC_SEQUENCE_GAP',
      /controller 0: expected seq 3, got 4/,
    )
    expect(err.context).toMatchObject({ controller: 0, partition: 0, offset: '1', expected: 3, got: 4 })
  })

  it('a heartbeat that skips a seq is a gap too', () => {
    const f = createGroupFormer({ layout })
    f.add(0, updates(1, upd(7, 10)))
    expectXrc(() => f.add(1, heartbeat(1, 9, 20)), 'XRC_SEQUENCE_GAP', /controller 1: expected seq 8, got 9/)
  })

  it('a gap after a restore is measured from the journal mark', () => {
    const f = createGroupFormer({
      layout,
      restore: {
        groupSeq: 4,
        groupTime: 50,
        controllers: [
          { controller: 0, lastSeq: 9, lastTime: 50, resumeOffset: 3 },
          { controller: 1, lastSeq: 2, lastTime: 50, resumeOffset: 8 },
        ],
      },
    })
    expectXrc(() => f.add(3, updates(0, upd(11, 60))), 'XRC_SEQUENCE_GAP', /expected seq 10, got 11/)
  })

  it('drops a record set whose seqs were all seen, and counts it', () => {
    const f = createGroupFormer({ layout })
    f.add(0, updates(0, upd(1, 10), upd(2, 11)))
    expect(f.add(1, updates(0, upd(1, 10), upd(2, 11)))).toEqual({ kind: 'duplicate', droppedUpdates: 2 })
    expect(f.add(2, updates(0, upd(2, 11)))).toEqual({ kind: 'duplicate', droppedUpdates: 1 })
    expect(f.bufferedBytes(0)).toBe(8)
  })

  it('keeps only the new tail of a partial overlap', () => {
    const f = createGroupFormer({ layout })
    f.add(0, updates(0, upd(1, 10), upd(2, 11)))
    expect(f.add(1, updates(0, upd(2, 11), upd(3, 12), upd(4, 13)))).toEqual({
      kind: 'overlap',
      updates: 2,
      droppedUpdates: 1,
    })
    f.add(0, heartbeat(1, 1, 100))
    f.add(2, heartbeat(0, 5, 100))
    const g = f.cut()
    expect(g?.updates.map((u) => u.seq)).toEqual([4]) // block 0 rewritten by 1..4: the last writer wins
    expect(g?.writes).toBe(4)
  })

  it('drops a stale heartbeat (its next seq was passed) without looking at its time', () => {
    const f = createGroupFormer({ layout })
    f.add(0, heartbeat(0, 1, 5))
    f.add(1, updates(0, upd(1, 10)))
    expect(f.add(2, heartbeat(0, 1, 5))).toEqual({ kind: 'duplicate', droppedUpdates: 0 })
  })

  it('takes the first seq it sees from a controller with no journal mark', () => {
    const f = createGroupFormer({ layout })
    expect(f.add(0, updates(0, upd(41, 10)))).toEqual({ kind: 'accepted', updates: 1 })
    expect(() => f.add(1, updates(0, upd(42, 11)))).not.toThrow()
  })
})

describe('time rules', () => {
  it('a write earlier than the controller latest time halts with XRC_TIME_REGRESSION', () => {
    const f = createGroupFormer({ layout })
    f.add(0, updates(0, upd(1, 10)))
    const err = expectXrc(
      () => f.add(1, updates(0, upd(2, 9))),
      'XRC_TIME_REGRESSION',
      /controller 0: seq 2 has time 9, earlier than the controller's latest time 10/,
    )
    expect(err.context).toMatchObject({ controller: 0, offset: '1', time: 9, latest: 10 })
  })

  it('a write at the same time as the previous write is fine; at the time of a heartbeat it is not', () => {
    const f = createGroupFormer({ layout })
    f.add(0, updates(0, upd(1, 10)))
    expect(() => f.add(1, updates(0, upd(2, 10)))).not.toThrow()
    f.add(2, heartbeat(0, 3, 12))
    expectXrc(() => f.add(3, updates(0, upd(3, 12))), 'XRC_TIME_REGRESSION', /all later writes must exceed it/)
  })

  it('a heartbeat earlier than the latest time is a regression', () => {
    const f = createGroupFormer({ layout })
    f.add(0, updates(1, upd(1, 10)))
    expectXrc(() => f.add(1, heartbeat(1, 2, 9)), 'XRC_TIME_REGRESSION', /heartbeat \(next seq 2\) has time 9/)
  })

  it('after a restore a write at or before the mark time is a regression (it should have been journaled)', () => {
    const f = createGroupFormer({
      layout,
      restore: {
        groupSeq: 1,
        groupTime: 50,
        controllers: [
          { controller: 0, lastSeq: 0, lastTime: 50, resumeOffset: 0 },
          { controller: 1, lastSeq: 0, lastTime: 50, resumeOffset: 0 },
        ],
      },
    })
    expectXrc(() => f.add(0, updates(0, upd(1, 50))), 'XRC_TIME_REGRESSION', /seq 1 has time 50/)
  })
})

describe('invalid record sets (XRC_INVALID_RECORD)', () => {
  const cases: [string, RecordSet, RegExp][] = [
    ['an unknown controller', { ...updates(0, upd(1, 1)), controller: 5 }, /controller 5 is not configured/],
    ['another session', { ...updates(0, upd(1, 1)), session: 'other' }, /session "other", expected "s"/],
    ['a volume of another controller', updates(0, upd(1, 1, 0, 1, 'b')), /volume "b", not a volume of controller 0/],
    [
      'a block past the end of the volume',
      updates(0, upd(1, 1, 9, 2)),
      /blocks 9\.\.10 of volume "a", which has 10 blocks/,
    ],
    ['a negative block', updates(0, upd(1, 1, -1)), /blocks -1\.\.-1/],
    [
      'partial blocks',
      updates(0, { seq: 1, time: 1, volume: 'a', block: 0, data: Buffer.alloc(6) }),
      /6 bytes, not whole blocks of 4/,
    ],
    ['no data', updates(0, { seq: 1, time: 1, volume: 'a', block: 0, data: Buffer.alloc(0) }), /0 bytes/],
    ['seqs out of order', { ...updates(0, upd(1, 1), upd(3, 2)), lastSeq: 2 }, /update 1 has seq 3, expected 2/],
    ['a count that does not match the seq range', { ...updates(0, upd(1, 1)), lastSeq: 2 }, /1 updates for 2 seqs/],
    [
      'times decreasing inside the set',
      { ...updates(0, upd(1, 5), upd(2, 4)), minTime: 4, maxTime: 5 },
      /seq 1 has time 5, outside 4\.\.5|seq 2 has time 4, outside 5\.\.5/,
    ],
    [
      'a time outside minTime..maxTime',
      { ...updates(0, upd(1, 5)), maxTime: 4, minTime: 4 },
      /seq 1 has time 5, outside 4\.\.4/,
    ],
    ['minTime after maxTime', { ...updates(0, upd(1, 5)), minTime: 6 }, /minTime 6 after maxTime 5/],
    ['no updates', { ...updates(0, upd(1, 1)), updates: [] }, /UPDATES record set with no updates/],
    [
      'a heartbeat with updates',
      { ...updates(0, upd(1, 1)), kind: 'HEARTBEAT', firstSeq: 2, lastSeq: 1 },
      /a heartbeat carries 1 updates/,
    ],
    ['a heartbeat with firstSeq != lastSeq + 1', { ...heartbeat(0, 3, 1), lastSeq: 3 }, /firstSeq = lastSeq \+ 1/],
    ['a heartbeat with two times', { ...heartbeat(0, 3, 1), maxTime: 2 }, /minTime = maxTime/],
    ['a negative seq', { ...heartbeat(0, -1, 1), lastSeq: -2 }, /firstSeq -1 is not an integer >= 0/],
    ['a fractional time', { ...heartbeat(0, 1, 1.5) }, /minTime 1.5 is not an integer/],
  ]
  it.each(cases)('%s', (_what, rs, message) => {
    expectXrc(() => createGroupFormer({ layout }).add(0, rs), 'XRC_INVALID_RECORD', message)
  })

  it('RESYNC record sets are taken like UPDATES', () => {
    const f = createGroupFormer({ layout })
    expect(f.add(0, { ...updates(0, upd(1, 1)), kind: 'RESYNC' })).toEqual({ kind: 'accepted', updates: 1 })
  })

  it('refuses offsets that go back (a caller bug) with XRC_USAGE', () => {
    const f = createGroupFormer({ layout })
    f.add(5, heartbeat(0, 1, 1))
    expectXrc(() => f.add(5, heartbeat(0, 1, 2)), 'XRC_USAGE', /offset 5 fed after offset 5/)
  })
})

describe('consistency time and cuts', () => {
  it('T is undefined until every configured controller reported, then the minimum of what each covers', () => {
    const f = createGroupFormer({ layout })
    f.add(0, updates(0, upd(1, 10)))
    expect(f.consistencyTime()).toBeUndefined()
    expect(f.silentControllers()).toEqual([1])
    expect(f.cut()).toBeUndefined()
    f.add(0, heartbeat(1, 1, 30))
    expect(f.consistencyTime()).toBe(9) // a write at 10 covers only 9: another write at 10 may follow
    f.add(1, heartbeat(0, 2, 20))
    expect(f.consistencyTime()).toBe(20)
  })

  it('cuts every write up to T in (time, controller, seq) order, one block each, and the marks to resume from', () => {
    const f = createGroupFormer({ layout })
    f.add(100, updates(0, upd(1, 10, 0, 2), upd(2, 20, 5)))
    f.add(101, updates(0, upd(3, 40, 6)))
    f.add(7, updates(1, upd(1, 10, 3), upd(2, 15, 4)))
    f.add(8, heartbeat(1, 3, 30))
    const g = f.cut()
    expect(g).toMatchObject({ session: 's', groupSeq: 1, groupTime: 30, writes: 4, bytes: 20 })
    expect(g?.updates.map((u) => [u.time, u.controller, u.seq, u.volume, u.block])).toEqual([
      [10, 0, 1, 'a', 0],
      [10, 0, 1, 'a', 1],
      [10, 1, 1, 'b', 3],
      [15, 1, 2, 'b', 4],
      [20, 0, 2, 'a', 5],
    ])
    expect(g?.controllers).toEqual([
      { controller: 0, lastSeq: 2, lastTime: 39, resumeOffset: 101 },
      { controller: 1, lastSeq: 2, lastTime: 30, resumeOffset: 9 },
    ])
    expect(f.bufferedBytes(0)).toBe(4)
    expect(f.bufferedBytes(1)).toBe(0)
    expect(f.cut()).toBeUndefined() // T has not moved
    f.add(9, heartbeat(1, 3, 35))
    expect(f.cut()).toMatchObject({ groupSeq: 2, groupTime: 35, updates: [] }) // time moved: still a group
  })

  it('the last writer of a block wins within a group, across controllers when volumes are shared by none', () => {
    const f = createGroupFormer({ layout })
    f.add(0, updates(0, upd(1, 10, 0, 3), upd(2, 11, 1)))
    f.add(0, heartbeat(1, 1, 20))
    f.add(1, heartbeat(0, 3, 20))
    expect(f.cut()?.updates.map((u) => [u.seq, u.block])).toEqual([
      [1, 0],
      [1, 2],
      [2, 1],
    ])
  })

  it('a bounded cut stops at an earlier T and takes all writes at that time', () => {
    const f = createGroupFormer({ layout })
    f.add(0, updates(0, upd(1, 10), upd(2, 11, 1), upd(3, 11, 2), upd(4, 12)))
    f.add(0, heartbeat(1, 1, 50))
    f.add(1, heartbeat(0, 5, 50))
    expect(f.cuttableBytes()).toBe(16)
    expect(f.cuttableBytes(5)).toBe(8)
    const first = f.cut({ maxBytes: 4 })
    expect(first).toMatchObject({ groupSeq: 1, groupTime: 10 })
    expect(first?.controllers[0]).toEqual({ controller: 0, lastSeq: 1, lastTime: 10, resumeOffset: 0 })
    expect(f.cut({ maxBytes: 4 })?.updates.map((u) => u.seq)).toEqual([2, 3]) // both at 11: T' cannot split them
    // what is left fits: the cut goes all the way to T
    const last = f.cut({ maxBytes: 4 })
    expect(last).toMatchObject({ groupSeq: 3, groupTime: 50 })
    expect(last?.updates.map((u) => u.seq)).toEqual([4])
    expect(f.cut({ maxBytes: 4 })).toBeUndefined()
    expect(f.totalBufferedBytes()).toBe(0)
  })

  it('restores group seq, time and per-controller state from the marks', () => {
    const f = createGroupFormer({
      layout,
      restore: {
        groupSeq: 7,
        groupTime: 50,
        controllers: [
          { controller: 0, lastSeq: 4, lastTime: 50, resumeOffset: 3 },
          { controller: 1, lastSeq: 9, lastTime: 70, resumeOffset: 12 },
        ],
      },
    })
    expect(f.checkpoint()).toEqual({ groupSeq: 7, groupTime: 50 })
    expect(f.consistencyTime()).toBe(50)
    expect(f.cut()).toBeUndefined()
    expect(f.add(3, updates(0, upd(4, 40), upd(5, 60)))).toEqual({ kind: 'overlap', updates: 1, droppedUpdates: 1 })
    f.add(4, heartbeat(0, 6, 65))
    expect(f.cut()).toMatchObject({
      groupSeq: 8,
      groupTime: 65,
      controllers: [
        { controller: 0, lastSeq: 5, lastTime: 65, resumeOffset: 5 },
        { controller: 1, lastSeq: 9, lastTime: 70, resumeOffset: 12 },
      ],
    })
  })
})
