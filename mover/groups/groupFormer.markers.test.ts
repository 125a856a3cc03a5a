/**
 * The guard of markers (issue "The updates topic is the journal"): the
 * journal holds one marker per group, and the applier rebuilds the group
 * from the marker and the updates topic (schemas/markers.ts resolveMarker).
 * For random partitions of several controllers, fed to the former in any
 * interleaving, cut at random times (bounded by bytes and by set-aside
 * offsets, or not) and restarted from the last group's marks at random, the
 * group resolved from each marker against ALL the record sets of the
 * partitions equals exactly the group the former cut: same updates in the
 * same order with the same data, same marks and window events.
 *
 * The partitions hold what the mover meets in life: record sets batched
 * anew, whole re-sends (duplicates), re-sends that overlap new writes,
 * record sets straddling cuts, heartbeats and window heartbeats, offsets
 * the reader never sees (aborted transactions, control records), and bad
 * records the mover dead-letters (`skipped`): undecodable ones (reading
 * one throws), another controller's, invalid ones and time regressions
 * claiming the next seqs (their data differs, so taking one shows), later
 * duplicates; and seqs lost before a record set, which the operator
 * discards (the missing seqs may turn up later in a re-send).
 */
import avro from 'avsc'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isXrcError } from '../../lib/errors.js'
import { resolveMarker, readsOffset, type ReadRecordSet } from '../../schemas/markers.js'
import { RECORD_SET_SCHEMA, type RecordSet, type Update } from '../../schemas/recordSet.js'
import { walkRecordSet } from '../../schemas/recordSetWalk.js'
import type { RecordSetView } from '../../schemas/updateList.js'
import type { SessionLayout } from '../intake/index.js'
import { createGroupFormer, type FormedGroup, type GroupFormer, markerOf } from './groupFormer.js'

const BLOCK = 4
const VOLUME_BLOCKS = 8
const IDS = [3, 0, 7] // not sorted, not contiguous: partition = controller id
const SESSION = 's'

const layoutOf = (ids: readonly number[]): SessionLayout => ({
  name: SESSION,
  blockSize: BLOCK,
  controllers: ids.map((id) => ({
    id,
    volumes: [
      { name: `v${id}a`, blocks: VOLUME_BLOCKS },
      { name: `v${id}b`, blocks: VOLUME_BLOCKS },
    ],
  })),
})

/** What a producer puts on a partition next. */
const opArb = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('batch' as const), n: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('heartbeat' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('window' as const) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('resend' as const),
      back: fc.integer({ min: 1, max: 5 }),
      extra: fc.nat(2),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('bad' as const),
      bad: fc.constantFrom('undecodable', 'foreign', 'invalid', 'regression', 'laterDuplicate'),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('gap' as const), lost: fc.integer({ min: 1, max: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('hole' as const), n: fc.integer({ min: 1, max: 2 }) }) },
)
type Op = typeof opArb extends fc.Arbitrary<infer T> ? T : never

const partitionArb = fc.record({
  baseOffset: fc.nat(5),
  firstSeq: fc.nat(5),
  ops: fc.array(fc.tuple(opArb, fc.constantFrom(0, 0, 1, 2, 5)), { maxLength: 30 }),
})

const scenarioArb = fc.record({
  partitions: fc.array(partitionArb, { minLength: 1, maxLength: 3 }),
  /** Feed (which controller), cut or restart; drives everything the mover does. */
  steps: fc.array(fc.nat(99), { maxLength: 150 }),
  maxBytes: fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }),
  maxSetAside: fc.option(fc.nat(4), { nil: undefined }),
})

/** A record of a partition: a record set, or bytes that do not decode. */
type Entry = { offset: number; recordSet: RecordSet } | { offset: number; undecodable: true }

/** The partition a controller's producer writes for `ops`. */
function partitionOf(id: number, other: number, p: typeof partitionArb extends fc.Arbitrary<infer T> ? T : never) {
  const out: Entry[] = []
  const written: Update[] = [] // every write, sent or lost, by seq - p.firstSeq
  let offset = p.baseOffset
  let nextSeq = p.firstSeq
  let lastTime = 1000
  let lastHeartbeat = -1
  let badId = -1
  const put = (recordSet: RecordSet): void => void out.push({ offset: offset++, recordSet })
  const updatesOf = (us: Update[]): RecordSet => ({
    session: SESSION,
    controller: id,
    kind: 'UPDATES',
    firstSeq: (us[0] as Update).seq,
    lastSeq: (us[us.length - 1] as Update).seq,
    minTime: (us[0] as Update).time,
    maxTime: (us[us.length - 1] as Update).time,
    updates: us,
  })
  const write = (inc: number, i: number): Update => {
    const time = Math.max(lastTime + (i === 0 ? inc : i % 2), lastHeartbeat + 1)
    lastTime = time
    const seq = nextSeq++
    const data = Buffer.alloc(BLOCK * (1 + (seq % 2)))
    data.writeInt32BE(id * 10_000 + seq)
    const u: Update = {
      seq,
      time,
      volume: `v${id}${seq % 3 === 0 ? 'b' : 'a'}`,
      block: seq % (VOLUME_BLOCKS - 1),
      data,
    }
    written.push(u)
    return u
  }
  const heartbeat = (time: number, window?: RecordSet['window']): RecordSet => ({
    session: SESSION,
    controller: id,
    kind: 'HEARTBEAT',
    firstSeq: nextSeq,
    lastSeq: nextSeq - 1,
    minTime: time,
    maxTime: time,
    updates: [],
    ...(window ? { window } : {}),
  })
  const poison = (seq: number, time: number, volume: string): Update => {
    const data = Buffer.alloc(BLOCK)
    data.writeInt32BE(badId--)
    return { seq, time, volume, block: 0, data }
  }
  for (const [op, inc] of p.ops as [Op, number][]) {
    switch (op.op) {
      case 'batch':
        put(updatesOf(Array.from({ length: op.n }, (_, i) => write(inc, i))))
        break
      case 'heartbeat':
        lastTime += inc
        lastHeartbeat = lastTime
        put(heartbeat(lastTime))
        break
      case 'window':
        lastTime += 1 + inc // a fresh tick above everything the controller sent
        lastHeartbeat = lastTime
        put(heartbeat(lastTime, { event: 'BEGIN', epoch: out.length + 1, consistentUntil: 0, blocks: 1, reason: 'r' }))
        break
      case 'resend': {
        // a restarted producer sends again from an earlier seq, maybe with new writes (an overlap)
        const from = Math.max(0, written.length - op.back)
        const fresh = Array.from({ length: op.extra }, (_, i) => write(inc, i))
        const us = [...written.slice(from, written.length - fresh.length), ...fresh]
        if (us.length > 0) put(updatesOf(us))
        break
      }
      case 'gap': {
        // writes lost before they were sent (their seqs: discarded by the operator), then the next ones
        for (let i = 0; i < op.lost; i++) write(inc, i)
        put(updatesOf([write(0, 1)]))
        break
      }
      case 'hole':
        offset += op.n // offsets a read_committed reader never sees (aborted records, transaction markers)
        break
      case 'bad':
        switch (op.bad) {
          case 'undecodable':
            out.push({ offset: offset++, undecodable: true })
            break
          case 'foreign': // another controller's record set, on the wrong partition
            put({ ...updatesOf([poison(nextSeq, lastTime + 1, `v${other}a`)]), controller: other })
            break
          case 'invalid': // the next seqs, on a volume the controller does not have
            put(updatesOf([poison(nextSeq, lastTime + 1, 'nope'), poison(nextSeq + 1, lastTime + 1, 'nope')]))
            break
          case 'regression': // the next seq, earlier than what the controller reported
            put(updatesOf([poison(nextSeq, Math.max(0, Math.min(lastTime, lastHeartbeat) - 1), `v${id}a`)]))
            break
          case 'laterDuplicate': // seqs taken before, with later times: not a re-send
            if (written.length > 0) {
              const last = written[written.length - 1] as Update
              put(updatesOf([poison(last.seq, lastTime + 10, `v${id}a`)]))
            }
            break
        }
        break
    }
  }
  return out
}

/** How the former is given a record set: as decoded, or walked from its wire encoding as the mover does. */
type View = (rs: RecordSet) => RecordSet | RecordSetView

const recordSetType = avro.Type.forSchema(RECORD_SET_SCHEMA as unknown as avro.Schema)
const walks = new WeakMap<RecordSet, RecordSetView>()
const walkedView: View = (rs) => {
  let w = walks.get(rs)
  if (w === undefined) {
    const wire = Buffer.concat([Buffer.from([0, 0, 0, 0, 1]), recordSetType.toBuffer({ window: null, ...rs })])
    w = walkRecordSet(wire, 5, 'test-value', 1)
    walks.set(rs, w)
  }
  return w
}

/** Feeds one record as the intake would: a bad one is dead-lettered, a gap's record taken once the operator discards. */
function feed(former: GroupFormer, controller: number, e: Entry, view: View): void {
  if ('undecodable' in e || e.recordSet.controller !== controller) return former.skipped(controller, e.offset)
  const recordSet = view(e.recordSet)
  try {
    former.add(e.offset, recordSet)
  } catch (err) {
    if (!isXrcError(err, 'XRC_SEQUENCE_GAP')) return former.skipped(controller, e.offset)
    former.discardMissing(controller)
    try {
      former.add(e.offset, recordSet)
    } catch {
      former.skipped(controller, e.offset)
    }
  }
}

/** Reads a partition as the applier does: every record, in offset order; an undecodable one throws when decoded. */
function reader(partitions: ReadonlyMap<number, Entry[]>): (controller: number) => Iterable<ReadRecordSet> {
  return (controller) =>
    (partitions.get(controller) ?? []).map((e) =>
      'undecodable' in e
        ? {
            offset: e.offset,
            get recordSet(): RecordSet {
              throw new Error(`offset ${e.offset} of partition ${controller} was decoded: it was set aside`)
            },
          }
        : e,
    )
}

/** What resolveMarker gives back for a cut group. */
const asResolved = (g: FormedGroup) => ({
  session: g.session,
  groupSeq: g.groupSeq,
  groupTime: g.groupTime,
  updates: g.updates,
  controllers: g.controllers,
  ...(g.windows !== undefined && g.windows.length > 0 ? { windows: g.windows } : {}),
})

/** Runs a scenario; returns every group cut. */
function run(sc: typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never, view: View = (rs) => rs) {
  const ids = IDS.slice(0, sc.partitions.length)
  const partitions = new Map(
    ids.map((id, i) => [id, partitionOf(id, ids.find((x) => x !== id) ?? 99, sc.partitions[i] as never)]),
  )
  const layout = layoutOf(ids)
  let former = createGroupFormer({ layout })
  const position = new Map(ids.map((id) => [id, 0]))
  const groups: FormedGroup[] = []
  const cut = (): void => {
    try {
      const g = former.cut({ maxBytes: sc.maxBytes, maxSetAside: sc.maxSetAside })
      if (g !== undefined) groups.push(g)
    } catch (err) {
      // dead letters between writes of one time, more than a marker holds: refused, nothing changed
      if (!isXrcError(err, 'XRC_RECORD_TOO_LARGE')) throw err
    }
  }
  for (const step of sc.steps) {
    if (step < 65) {
      const id = ids[step % ids.length] as number
      const at = position.get(id) as number
      const e = partitions.get(id)?.[at]
      if (e === undefined) continue
      feed(former, id, e, view)
      position.set(id, at + 1)
    } else if (step < 92) {
      cut()
    } else {
      // a restarted mover: from the last group's marks, each partition read again from its resume offset
      const last = groups[groups.length - 1]
      former = createGroupFormer({ layout, restore: last })
      for (const id of ids) {
        const mark = last?.controllers.find((m) => m.controller === id)
        const entries = partitions.get(id) ?? []
        const at = mark === undefined ? 0 : entries.findIndex((e) => e.offset >= mark.resumeOffset)
        position.set(id, at < 0 ? entries.length : at)
      }
    }
  }
  // the end: everything read, then cut until nothing moves
  for (const id of ids) {
    const entries = partitions.get(id) ?? []
    for (let at = position.get(id) as number; at < entries.length; at++) feed(former, id, entries[at] as Entry, view)
  }
  for (let before = -1; before !== groups.length;) {
    before = groups.length
    cut()
  }
  return { ids, partitions, groups }
}

describe('markers: resolveMarker(marker, the updates partitions) is the group the former cut', () => {
  it('for random partitions, interleavings, cuts and restarts: same updates, same order, same data, same marks', () => {
    let groupsSeen = 0
    let withSetAside = 0
    let withDiscarded = 0
    fc.assert(
      fc.property(scenarioArb, (sc) => {
        const { ids, partitions, groups } = run(sc)
        const read = reader(partitions)
        for (const g of groups) {
          const marker = markerOf(g)
          expect(marker.ranges?.map((r) => r.controller)).toEqual([...ids].sort((a, b) => a - b))
          let setAside = 0
          for (const r of marker.ranges ?? []) {
            expect(r.fromOffset).toBeLessThanOrEqual(r.toOffset)
            for (const o of r.setAside) expect(o >= r.fromOffset && o < r.toOffset && !readsOffset(r, o)).toBe(true)
            setAside += r.setAside.length
          }
          if (sc.maxSetAside !== undefined) expect(setAside).toBeLessThanOrEqual(sc.maxSetAside)
          expect(resolveMarker(marker, read, BLOCK, g.groupSeq)).toEqual(asResolved(g))
          groupsSeen++
          if (setAside > 0) withSetAside++
          if ((marker.discarded ?? []).length > 0) withDiscarded++
        }
      }),
      { numRuns: Number(process.env.XRC_PROPERTY_RUNS ?? 1500) },
    )
    // the generator does reach what the test is about
    expect(groupsSeen).toBeGreaterThan(1000)
    expect(withSetAside).toBeGreaterThan(50)
    expect(withDiscarded).toBeGreaterThan(5)
  }, 300_000)

  it('the same groups, marks and markers when every record set is walked from its wire encoding, not decoded', () => {
    fc.assert(
      fc.property(scenarioArb, (sc) => {
        const decoded = run(sc).groups
        const walked = run(sc, walkedView).groups
        expect(walked.map(markerOf)).toEqual(decoded.map(markerOf))
        expect(walked.map(asResolved)).toEqual(decoded.map(asResolved))
        expect(walked.map((g) => [g.bytes, g.blocks, g.writes, g.duplicatesLeft])).toEqual(
          decoded.map((g) => [g.bytes, g.blocks, g.writes, g.duplicatesLeft]),
        )
      }),
      { numRuns: Number(process.env.XRC_PROPERTY_RUNS ?? 300) },
    )
  }, 300_000)
})
