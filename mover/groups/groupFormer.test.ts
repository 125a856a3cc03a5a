/**
 * Property tests of group formation against a simple model: for any
 * interleaving of controllers' record sets (heartbeats, re-sends with whole
 * and partial overlap, multi-block writes), any cut points (bounded or not)
 * and any crashes of the mover (restored from the last journaled group,
 * maybe losing a group that was cut but not journaled), the journal is
 * exactly what the model says it should be; and every resync window event
 * a heartbeat carries is journaled exactly once, in the group whose time
 * covers it or, for a BEGIN, in the first group past its S if that comes
 * earlier: no group whose time passes a BEGIN's S is journaled before the
 * BEGIN (the controller's writes after S were only marked, so such a group
 * must open the window).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { ConsistencyGroup } from '../../schemas/journal.js'
import type { RecordSet, Update } from '../../schemas/recordSet.js'
import { windowEnd, type ResyncWindow } from '../../schemas/resyncWindow.js'
import { createGroupFormer, type GroupFormer } from './groupFormer.js'
import type { SessionLayout } from '../intake/index.js'

const BLOCK = 4
const VOLUME_BLOCKS = 8
const IDS = [3, 0, 7, 1] // not sorted, not contiguous: partition = controller id

interface Write {
  id: number
  controller: number
  seq: number
  time: number
  volume: string
  block: number
  blocks: number
}

function layoutOf(ids: number[]): SessionLayout {
  return {
    name: 's',
    blockSize: BLOCK,
    controllers: ids.map((id) => ({
      id,
      volumes: [
        { name: `v${id}a`, blocks: VOLUME_BLOCKS },
        { name: `v${id}b`, blocks: VOLUME_BLOCKS },
      ],
    })),
  }
}

/** Block data that names its write, so images can be compared by write id. */
function dataOf(w: Write): Buffer {
  const b = Buffer.alloc(w.blocks * BLOCK)
  for (let i = 0; i < w.blocks; i++) b.writeUInt32BE(w.id, i * BLOCK)
  return b
}

const toUpdate = (w: Write): Update => ({ seq: w.seq, time: w.time, volume: w.volume, block: w.block, data: dataOf(w) })

const eventArb = fc.record({
  c: fc.nat(3),
  heartbeat: fc.boolean(),
  /** A heartbeat that carries a resync window event (a BEGIN, or an END when volume is 'b'). */
  window: fc.boolean(),
  /** A BEGIN's S: the controller's last time before it (0), or later, up to just below the BEGIN (100). */
  sAt: fc.constantFrom(0, 50, 100),
  volume: fc.constantFrom('a', 'b'),
  block: fc.nat(VOLUME_BLOCKS - 1),
  blocks: fc.integer({ min: 1, max: 3 }),
  inc: fc.constantFrom(0, 0, 1, 2, 7),
})

const scenarioArb = fc.record({
  controllers: fc.integer({ min: 1, max: 4 }),
  firstSeqs: fc.array(fc.nat(5), { minLength: 4, maxLength: 4 }),
  events: fc.array(eventArb, { maxLength: 50 }),
  /** Drives batching, re-sends, interleaving, cuts and crashes. */
  choices: fc.array(fc.nat(99), { maxLength: 200 }),
})

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never

/** A window event the model sent: its controller, time, epoch, kind and S (0 for an END). */
interface ModelWindow {
  controller: number
  time: number
  epoch: number
  event: 'BEGIN' | 'END'
  consistentUntil: number
}

/** Whether a group at `t` may carry `w` (schemas/resyncWindow.ts): it covers its time, or is past a BEGIN's S. */
const mayCarry = (w: ModelWindow, t: number): boolean => w.time <= t || (w.event === 'BEGIN' && t > w.consistentUntil)

/** Builds each controller's stream of record sets (its partition) from a global timeline of writes and heartbeats. */
function buildStreams(sc: Scenario, next: () => number) {
  const ids = IDS.slice(0, sc.controllers)
  const writes: Write[] = []
  const windows: ModelWindow[] = []
  const timelines = new Map<number, ({ hb: number; window?: ResyncWindow } | { write: Write })[]>(
    ids.map((id) => [id, []]),
  )
  const seqs = new Map(ids.map((id, i) => [id, sc.firstSeqs[i] ?? 0]))
  const lastHb = new Map<number, number>()
  const lastTime = new Map<number, number>()
  let clock = 1000
  sc.events.forEach((e, i) => {
    const controller = ids[e.c % ids.length] as number
    clock += e.inc
    if (e.heartbeat && e.window) {
      // a window event's time is a fresh tick above everything its controller sent before
      const before = lastTime.get(controller) ?? 0
      // a gap after the controller's last time, as between a suspension (S) and the resume's tick (the BEGIN)
      const time = Math.max(clock, before + 1) + (e.volume === 'a' ? e.inc : 0)
      clock = time
      lastHb.set(controller, time)
      lastTime.set(controller, time)
      // S: at or above every earlier time of the controller's stream (a tick at the suspension), below the BEGIN
      const s = before + Math.floor(((time - 1 - before) * e.sAt) / 100)
      const window: ResyncWindow =
        e.volume === 'a'
          ? { event: 'BEGIN', epoch: i + 1, consistentUntil: s, blocks: 1, reason: 'operator' }
          : windowEnd(i + 1)
      windows.push({ controller, time, epoch: i + 1, event: window.event, consistentUntil: window.consistentUntil })
      timelines.get(controller)?.push({ hb: time, window })
      return
    }
    if (e.heartbeat) {
      lastHb.set(controller, clock)
      lastTime.set(controller, Math.max(clock, lastTime.get(controller) ?? -1))
      timelines.get(controller)?.push({ hb: clock })
      return
    }
    // a write after a heartbeat at h must be later than h (what the heartbeat promised)
    const time = Math.max(clock, (lastHb.get(controller) ?? -1) + 1)
    clock = time
    lastTime.set(controller, time)
    const seq = seqs.get(controller) as number
    seqs.set(controller, seq + 1)
    const w: Write = {
      id: i + 1,
      controller,
      seq,
      time,
      volume: `v${controller}${e.volume}`,
      block: Math.min(e.block, VOLUME_BLOCKS - e.blocks),
      blocks: e.blocks,
    }
    writes.push(w)
    timelines.get(controller)?.push({ write: w })
  })
  const streams = new Map<number, RecordSet[]>()
  for (const id of ids) {
    const line = timelines.get(id) ?? []
    const ws = line.flatMap((x) => ('write' in x ? [x.write] : []))
    const first = ws[0]?.seq ?? sc.firstSeqs[ids.indexOf(id)] ?? 0
    const out: RecordSet[] = []
    const updates = (from: number, to: number): RecordSet => {
      const us = ws.slice(from, to).map(toUpdate)
      return {
        session: 's',
        controller: id,
        kind: 'UPDATES',
        firstSeq: first + from,
        lastSeq: first + to - 1,
        minTime: (us[0] as Update).time,
        maxTime: (us[us.length - 1] as Update).time,
        updates: us,
      }
    }
    let sent = 0
    let pos = 0
    let again = false // no two re-sends in a row, so every scenario ends
    const heartbeats: RecordSet[] = []
    while (pos < line.length) {
      const item = line[pos] as { hb: number; window?: ResyncWindow } | { write: Write }
      const roll = next()
      // a stale heartbeat is re-sent only after later writes, so its seq tells it is stale; one that carries a
      // window event also after later heartbeats (it is in the sidefile, which a restarted primary sends again)
      const stale = heartbeats.filter((hb) => hb.firstSeq < first + sent || hb.window !== undefined)
      if (!again && roll < 15 && sent > 0) {
        again = true
        // a producer restart re-sends from an earlier seq, maybe batched anew with new writes (partial overlap)
        const from = Math.max(0, sent - 1 - (next() % 3))
        let to = sent
        while (roll < 7 && to < ws.length && 'write' in (line[pos] ?? {})) {
          to++
          pos++
        }
        out.push(updates(from, to))
        sent = to
      } else if (!again && roll < 20 && stale.length > 0) {
        again = true
        out.push(stale[next() % stale.length] as RecordSet)
      } else if ('hb' in item) {
        again = false
        const hb: RecordSet = {
          session: 's',
          controller: id,
          kind: 'HEARTBEAT',
          firstSeq: first + sent,
          lastSeq: first + sent - 1,
          minTime: item.hb,
          maxTime: item.hb,
          updates: [],
          ...(item.window ? { window: item.window } : {}),
        }
        heartbeats.push(hb)
        out.push(hb)
        pos++
      } else {
        again = false
        let to = sent + 1
        pos++
        while (to - sent < 1 + (roll % 3) && 'write' in (line[pos] ?? {})) {
          to++
          pos++
        }
        out.push(updates(sent, to))
        sent = to
      }
    }
    streams.set(id, out)
  }
  return { ids, writes, windows, streams }
}

/** What T ends at once every stream is read: per controller what its last record set covers. */
function finalConsistencyTime(ids: number[], streams: Map<number, RecordSet[]>): number | undefined {
  let t: number | undefined
  for (const id of ids) {
    const covers = (streams.get(id) ?? []).map((rs) => (rs.kind === 'HEARTBEAT' ? rs.maxTime : rs.maxTime - 1))
    if (covers.length === 0) return undefined
    const c = Math.max(...covers)
    t = t === undefined ? c : Math.min(t, c)
  }
  return t
}

interface Block {
  controller: number
  seq: number
  time: number
  volume: string
  block: number
  id: number
}

/** The model: writes with lo < time <= hi, in (time, controller, seq) order, one per block, last writer wins. */
function modelBlocks(writes: Write[], lo: number, hi: number): Block[] {
  const byBlock = new Map<string, Block>()
  const inRange = writes.filter((w) => w.time > lo && w.time <= hi)
  inRange.sort((a, b) => a.time - b.time || a.controller - b.controller || a.seq - b.seq)
  for (const w of inRange) {
    for (let i = 0; i < w.blocks; i++) {
      const key = `${w.volume}/${w.block + i}`
      byBlock.delete(key) // re-insert: Map order becomes the order of the last writers
      byBlock.set(key, {
        controller: w.controller,
        seq: w.seq,
        time: w.time,
        volume: w.volume,
        block: w.block + i,
        id: w.id,
      })
    }
  }
  return [...byBlock.values()]
}

const blocksOf = (g: ConsistencyGroup): Block[] =>
  g.updates.map((u) => ({
    controller: u.controller,
    seq: u.seq,
    time: u.time,
    volume: u.volume,
    block: u.block,
    id: u.data.readUInt32BE(0),
  }))

/** Feeds the streams in the scenario's interleaving, cutting and crashing where it says; returns the journal. */
function runMover(ids: number[], streams: Map<number, RecordSet[]>, next: () => number): ConsistencyGroup[] {
  const layout = layoutOf(ids)
  const journal: ConsistencyGroup[] = []
  const read = new Map(ids.map((id) => [id, 0]))
  let former: GroupFormer = createGroupFormer({ layout })
  let crashes = 0 // a few per run: each one re-reads from the last group's marks
  const crash = (): void => {
    crashes++
    const last = journal[journal.length - 1]
    former = createGroupFormer({ layout, ...(last ? { restore: last } : {}) })
    for (const id of ids) read.set(id, last?.controllers.find((m) => m.controller === id)?.resumeOffset ?? 0)
  }
  const cut = (maxBytes?: number): void => {
    const g = former.cut(maxBytes === undefined ? {} : { maxBytes })
    if (g === undefined) return
    if (crashes < 3 && next() < 5)
      crash() // cut but never journaled: lost with the mover
    else journal.push(g)
  }
  let fed = true // no two cuts or crashes in a row, so every scenario ends
  for (;;) {
    const open = ids.filter((id) => (read.get(id) as number) < (streams.get(id) as RecordSet[]).length)
    if (open.length === 0) break
    const roll: number = fed ? next() : 99
    fed = roll >= 16
    if (roll < 10) cut()
    else if (roll < 14) cut(BLOCK * (1 + (next() % 6)))
    else if (roll < 16 && crashes < 3) crash()
    else {
      const id = open[next() % open.length] as number
      const offset = read.get(id) as number
      former.add(offset, (streams.get(id) as RecordSet[])[offset] as RecordSet)
      read.set(id, offset + 1)
    }
  }
  for (let g = former.cut(); g !== undefined; g = former.cut()) journal.push(g)
  return journal
}

describe('group formation (property)', () => {
  it('journals exactly the model: complete up to T, strictly increasing, each write once, ordered, last writer wins, dependent writes kept', () => {
    fc.assert(
      fc.property(scenarioArb, (sc) => {
        let i = 0
        const next = (): number => sc.choices[i++ % Math.max(sc.choices.length, 1)] ?? 0
        const { ids, writes, windows, streams } = buildStreams(sc, next)
        const journal = runMover(ids, streams, next)
        const finalT = finalConsistencyTime(ids, streams)
        checkJournal(journal, ids, writes, finalT)
        checkWindows(journal, windows, finalT)
      }),
      { numRuns: 1500 },
    )
  })
})

function checkJournal(journal: ConsistencyGroup[], ids: number[], writes: Write[], finalT: number | undefined): void {
  if (finalT === undefined) {
    expect(journal).toEqual([]) // a controller never reported: no group can be consistent
    return
  }
  expect(journal[journal.length - 1]?.groupTime).toBe(finalT)
  let lo = Number.NEGATIVE_INFINITY
  const once = new Set<string>()
  const where = new Map<number, number>() // write id -> group index
  journal.forEach((g, gi) => {
    expect(g.groupSeq).toBe(gi + 1)
    expect(g.groupTime).toBeGreaterThan(lo)
    // complete up to T, nothing after it, in order, last writer wins: exactly the model
    expect(blocksOf(g)).toEqual(modelBlocks(writes, lo, g.groupTime))
    for (const b of blocksOf(g)) {
      const key = `${b.controller}/${b.seq}/${b.volume}/${b.block}`
      expect(once.has(key)).toBe(false)
      once.add(key)
    }
    for (const w of writes) if (w.time > lo && w.time <= g.groupTime) where.set(w.id, gi)
    expect(g.controllers.map((m) => m.controller)).toEqual([...ids].sort((a, b) => a - b))
    lo = g.groupTime
  })
  // every write up to the final T is in a group (or superseded inside it); none after it
  for (const w of writes) expect(where.has(w.id)).toBe(w.time <= finalT)
  // a dependent write (later time, any controller) never lands in an earlier group than what it depends on
  for (const x of writes)
    for (const y of writes)
      if (y.time > x.time && where.has(y.id)) expect(where.get(x.id)).toBeLessThanOrEqual(where.get(y.id) as number)
  // replaying the groups in order gives the model's image of every write up to the final T
  const image = new Map<string, number>()
  for (const g of journal) for (const b of blocksOf(g)) image.set(`${b.volume}/${b.block}`, b.id)
  const expected = new Map<string, number>()
  for (const b of modelBlocks(writes, Number.NEGATIVE_INFINITY, finalT)) expected.set(`${b.volume}/${b.block}`, b.id)
  expect(image).toEqual(expected)
}

/**
 * Each window event journaled once, in a group that may carry it (after the group before), in order; every one
 * the final T may carry is journaled; and no group past a BEGIN's S comes before the group that carries it.
 */
function checkWindows(journal: ConsistencyGroup[], windows: ModelWindow[], finalT: number | undefined): void {
  const journaled: ModelWindow[] = []
  const groupOf = new Map<number, number>() // epoch -> index of the group that carries it
  let lo = Number.NEGATIVE_INFINITY
  journal.forEach((g, gi) => {
    const ws = g.windows ?? []
    for (const w of ws) {
      const m: ModelWindow = {
        controller: w.controller,
        time: w.time,
        epoch: w.epoch,
        event: w.event,
        consistentUntil: w.consistentUntil,
      }
      expect(w.time).toBeGreaterThan(lo)
      expect(mayCarry(m, g.groupTime)).toBe(true)
      journaled.push(m)
      groupOf.set(w.epoch, gi)
    }
    const sorted = [...ws].sort((a, b) => a.time - b.time || a.controller - b.controller)
    expect(ws).toEqual(sorted)
    lo = g.groupTime
  })
  const expected = windows.filter((w) => finalT !== undefined && mayCarry(w, finalT))
  const byEpoch = (a: { epoch: number }, b: { epoch: number }): number => a.epoch - b.epoch
  expect(journaled.sort(byEpoch)).toEqual(expected.sort(byEpoch))
  // the safety rule: a group past a BEGIN's S lacks the controller's marked writes, so it must not come first
  for (const w of windows) {
    if (w.event !== 'BEGIN') continue
    const carrier = groupOf.get(w.epoch) ?? journal.length
    journal.slice(0, carrier).forEach((g) => expect(g.groupTime).toBeLessThanOrEqual(w.consistentUntil))
  }
}

describe('resync window events', () => {
  const layout = layoutOf([0, 1])
  const beat = (controller: number, nextSeq: number, time: number, window?: ResyncWindow): RecordSet => ({
    session: 's',
    controller,
    kind: 'HEARTBEAT',
    firstSeq: nextSeq,
    lastSeq: nextSeq - 1,
    minTime: time,
    maxTime: time,
    updates: [],
    ...(window ? { window } : {}),
  })
  const begin: ResyncWindow = { event: 'BEGIN', epoch: 4, consistentUntil: 90, blocks: 2, reason: 'operator' }

  it('takes a copy at the same seq and time once (a re-send), and waits for a group past its S', () => {
    const former = createGroupFormer({ layout })
    former.add(0, beat(0, 1, 80))
    former.add(0, beat(1, 1, 80))
    expect(former.cut()?.windows).toBeUndefined()
    former.add(1, beat(0, 1, 120, begin))
    // sent again after a failed acknowledgement
    expect(former.add(2, beat(0, 1, 120, begin))).toEqual({ kind: 'duplicate', droppedUpdates: 0 })
    former.add(1, beat(1, 1, 85))
    // T = 85 is not past S = 90: it waits, and a restart would read again from it, resuming no later than S
    const g = former.cut()
    expect(g?.groupTime).toBe(85)
    expect(g?.windows).toBeUndefined()
    expect(g?.controllers.find((m) => m.controller === 0)).toEqual({
      controller: 0,
      lastSeq: 0,
      lastTime: 90,
      resumeOffset: 1,
    })
    former.add(2, beat(1, 1, 130))
    expect(former.cut()?.windows).toEqual([{ controller: 0, time: 120, ...begin }])
    former.add(3, beat(0, 1, 140))
    former.add(3, beat(1, 1, 140))
    expect(former.cut()?.windows).toBeUndefined()
    // a restarted primary sends its sidefile again: the event comes after later heartbeats, at the same seq
    expect(former.add(4, beat(0, 1, 120, begin))).toEqual({ kind: 'duplicate', droppedUpdates: 0 })
    // a plain heartbeat that goes back in time is still a regression
    expect(() => former.add(5, beat(0, 1, 130))).toThrow(/earlier than the controller's latest time 140/)
  })

  // the sigstop fault (seed 131240): controller 0's primary suspended at S = 90 and resumed at B = 120 while
  // controller 1 went on; its writes in (90, 120) were only marked. A group at T = 110 lacks them, so it must
  // carry the BEGIN (the applier then calls it inconsistent), though T does not cover the BEGIN's time
  it('puts a BEGIN in the first group past its S, even one below the BEGIN time', () => {
    const former = createGroupFormer({ layout })
    former.add(0, beat(0, 1, 80))
    former.add(0, beat(1, 1, 80))
    expect(former.cut()?.groupTime).toBe(80)
    former.add(1, beat(0, 1, 120, begin))
    former.add(1, beat(1, 1, 110))
    const g = former.cut()
    expect(g?.groupTime).toBe(110)
    expect(g?.windows).toEqual([{ controller: 0, time: 120, ...begin }])
    // the controller covers 120 and nothing of it waits: its mark is past the group, as for any heartbeat
    expect(g?.controllers.find((m) => m.controller === 0)).toEqual({
      controller: 0,
      lastSeq: 0,
      lastTime: 120,
      resumeOffset: 2,
    })
    // a write after the BEGIN is later than it: in a later group, never with the window still closed
    former.add(2, {
      session: 's',
      controller: 0,
      kind: 'UPDATES',
      firstSeq: 1,
      lastSeq: 1,
      minTime: 125,
      maxTime: 125,
      updates: [{ seq: 1, time: 125, volume: 'v0a', block: 0, data: Buffer.alloc(BLOCK) }],
    })
    former.add(2, beat(1, 1, 130))
    const later = former.cut()
    expect(later?.groupTime).toBe(124)
    expect(later?.windows).toBeUndefined()
  })

  it('a BEGIN behind an END waits for it (partition order), and an END waits for its time', () => {
    const former = createGroupFormer({ layout })
    former.add(0, beat(0, 1, 80))
    former.add(0, beat(1, 1, 80))
    former.cut()
    const end = { ...windowEnd(3) }
    former.add(1, beat(0, 1, 100, end))
    former.add(2, beat(0, 1, 120, { ...begin, consistentUntil: 85 }))
    former.add(1, beat(1, 1, 95))
    // T = 95 is past the BEGIN's S but not the END's time: neither goes (the window the END closes is still open
    // on the secondary, so the group is inconsistent anyway), and a restart reads again from the END
    const g = former.cut()
    expect(g?.windows).toBeUndefined()
    expect(g?.controllers.find((m) => m.controller === 0)).toMatchObject({ lastTime: 99, resumeOffset: 1 })
    former.add(2, beat(1, 1, 105))
    expect(former.cut()?.windows).toEqual([
      { controller: 0, time: 100, ...end },
      { controller: 0, time: 120, ...begin, consistentUntil: 85 },
    ])
  })

  it('a mover restarted while a BEGIN waits cuts no group past S before it has read the BEGIN again', () => {
    const first = createGroupFormer({ layout })
    first.add(0, beat(0, 1, 80))
    first.add(0, beat(1, 1, 80))
    first.add(1, beat(0, 1, 120, begin))
    first.add(1, beat(1, 1, 88))
    const g = first.cut()
    expect(g?.groupTime).toBe(88)
    expect(g?.windows).toBeUndefined()
    const restored = createGroupFormer({ layout, restore: g as ConsistencyGroup })
    // controller 1 read on first: without the BEGIN read again, T stays at S
    restored.add(2, beat(1, 1, 110))
    expect(restored.consistencyTime()).toBe(90)
    const atS = restored.cut()
    expect(atS?.groupTime).toBe(90)
    expect(atS?.windows).toBeUndefined()
    restored.add(1, beat(0, 1, 120, begin))
    const past = restored.cut()
    expect(past?.groupTime).toBe(110)
    expect(past?.windows).toEqual([{ controller: 0, time: 120, ...begin }])
  })

  it('refuses an event on a record set that is not a heartbeat, and a BEGIN not after its S', () => {
    const former = createGroupFormer({ layout })
    const write: RecordSet = {
      session: 's',
      controller: 0,
      kind: 'UPDATES',
      firstSeq: 1,
      lastSeq: 1,
      minTime: 100,
      maxTime: 100,
      updates: [{ seq: 1, time: 100, volume: 'v0a', block: 0, data: Buffer.alloc(BLOCK) }],
      window: begin,
    }
    expect(() => former.add(0, write)).toThrow(/carries a resync window event/)
    expect(() => former.add(0, beat(0, 1, 90, begin))).toThrow(/not after its S 90/)
    expect(() => former.add(0, beat(0, 1, 100, { ...begin, epoch: -1 }))).toThrow(/epoch -1/)
    expect(() => former.add(0, beat(0, 1, 100, { ...begin, reason: 'x'.repeat(65) }))).toThrow(/reason/)
    expect(former.add(0, beat(0, 1, 100, begin))).toEqual({ kind: 'heartbeat' })
  })
})
