/**
 * Property, end to end over the pure parts: one controller suspends while
 * the others go on, and no group the secondary would call consistent lacks
 * a write of it. The primary side is modelled as the controller and mirror
 * make it (schemas/resyncWindow.ts): S a tick at the suspension; while
 * suspended its writes are marked (not in the stream) and it sends no
 * heartbeat; the resume appends a BEGIN (epoch, S) at a fresh tick B; the
 * marked blocks go as RESYNC record sets at later ticks, then an END at E.
 * The mover's GroupFormer cuts groups from any interleaving of the
 * partitions (crashing and restoring from the last group now and then); the
 * applier's decision is modelled on its resync rows (resyncTables.ts) with
 * its pure rule, isInconsistentAt. Every group it calls consistent must hold
 * every marked write with a time up to T, i.e. the resync record that
 * carries it.
 */
import fc from 'fast-check'
import { expect, it } from 'vitest'
import { isInconsistentAt, type ResyncRow } from '../../applier/resync/resyncImage.js'
import type { ConsistencyGroup } from '../../schemas/journal.js'
import type { RecordSet } from '../../schemas/recordSet.js'
import { windowEnd, type ResyncWindow } from '../../schemas/resyncWindow.js'
import type { SessionLayout } from '../intake/index.js'
import { createGroupFormer, type GroupFormer } from './groupFormer.js'

const BLOCK = 4
const IDS = [0, 1, 2]
const VICTIM = 1

const layout: SessionLayout = {
  name: 's',
  blockSize: BLOCK,
  controllers: IDS.map((id) => ({ id, volumes: [{ name: `v${id}`, blocks: 8 }] })),
}

const scenarioArb = fc.record({
  events: fc.array(fc.record({ c: fc.constantFrom(...IDS), heartbeat: fc.boolean(), inc: fc.nat(3) }), {
    minLength: 10,
    maxLength: 60,
  }),
  /** Where the victim suspends, resumes and ends its resync, as fractions of the timeline. */
  phases: fc.tuple(fc.nat(99), fc.nat(99), fc.nat(99)).map((p) => [...p].sort((a, b) => a - b)),
  choices: fc.array(fc.nat(99), { maxLength: 300 }),
})

interface Marked {
  time: number
  /** The time of the RESYNC record that carries its block (undefined: not sent yet). */
  resent?: number
}

function buildStreams(sc: Scenario) {
  const n = sc.events.length
  const [iS, iR, iE] = sc.phases.map((p) => Math.floor((p * n) / 100)) as [number, number, number]
  const streams = new Map<number, RecordSet[]>(IDS.map((id) => [id, []]))
  const seqs = new Map(IDS.map((id) => [id, 1]))
  const marked: Marked[] = []
  let clock = 1000
  let mode = 'capture' as 'capture' | 'mark'
  let S = 0
  const tick = (inc = 0): number => (clock += 1 + inc)
  const beat = (c: number, time: number, window?: ResyncWindow): RecordSet => ({
    session: 's',
    controller: c,
    kind: 'HEARTBEAT',
    firstSeq: seqs.get(c) as number,
    lastSeq: (seqs.get(c) as number) - 1,
    minTime: time,
    maxTime: time,
    updates: [],
    ...(window ? { window } : {}),
  })
  const write = (c: number, time: number, kind: 'UPDATES' | 'RESYNC' = 'UPDATES'): RecordSet => {
    const seq = seqs.get(c) as number
    seqs.set(c, seq + 1)
    return {
      session: 's',
      controller: c,
      kind,
      firstSeq: seq,
      lastSeq: seq,
      minTime: time,
      maxTime: time,
      updates: [{ seq, time, volume: `v${c}`, block: seq % 8, data: Buffer.alloc(BLOCK) }],
    }
  }
  sc.events.forEach((e, i) => {
    const victim = streams.get(VICTIM) as RecordSet[]
    if (i === iS && iS < iR) {
      mode = 'mark'
      S = tick()
    }
    if (i === iR && mode === 'mark') {
      victim.push(beat(VICTIM, tick(), { event: 'BEGIN', epoch: 1, consistentUntil: S, blocks: 1, reason: 'x' }))
      mode = 'capture'
    }
    if (i === iE && iS < iR && iR < iE) {
      // the resync: every marked block again, then the END after all of them
      for (const m of marked) {
        m.resent = tick()
        victim.push(write(VICTIM, m.resent, 'RESYNC'))
      }
      victim.push(beat(VICTIM, tick(), windowEnd(1)))
    }
    const time = tick(e.inc)
    if (e.c === VICTIM && mode === 'mark') {
      // marked: no seq, nothing in the stream; and no heartbeat while suspended
      if (!e.heartbeat) marked.push({ time })
      return
    }
    ;(streams.get(e.c) as RecordSet[]).push(e.heartbeat ? beat(e.c, time) : write(e.c, time))
  })
  // every controller reports once more at the end, so T can pass the whole timeline
  for (const id of IDS) if (!(id === VICTIM && mode === 'mark')) streams.get(id)?.push(beat(id, tick()))
  return { streams, marked }
}

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never

/** The mover: partitions read in the scenario's interleaving, cuts and crashes where it says. */
function runMover(streams: Map<number, RecordSet[]>, next: () => number): ConsistencyGroup[] {
  const journal: ConsistencyGroup[] = []
  const read = new Map(IDS.map((id) => [id, 0]))
  let former: GroupFormer = createGroupFormer({ layout })
  let crashes = 0
  const crash = (): void => {
    crashes++
    const last = journal.at(-1)
    former = createGroupFormer({ layout, ...(last ? { restore: last } : {}) })
    for (const id of IDS) read.set(id, last?.controllers.find((m) => m.controller === id)?.resumeOffset ?? 0)
  }
  let fed = true
  for (;;) {
    const open = IDS.filter((id) => (read.get(id) as number) < (streams.get(id) as RecordSet[]).length)
    if (open.length === 0) break
    const roll: number = fed ? next() : 99
    fed = roll >= 25
    if (roll < 20) {
      const g = former.cut()
      if (g !== undefined) {
        if (crashes < 3 && next() < 5) crash()
        else journal.push(g)
      }
    } else if (roll < 25 && crashes < 3) crash()
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

/** The applier's resync rows (resyncTables.ts) and its decision, group by group: the consistent groups' times. */
function consistentTimes(journal: readonly ConsistencyGroup[]): number[] {
  const rows = new Map<number, ResyncRow & { epoch: number }>()
  const consistent: number[] = []
  for (const g of journal) {
    for (const w of g.windows ?? []) {
      const row = rows.get(w.controller)
      if (w.event === 'BEGIN') {
        const open = row !== undefined && (row.state === 'running' || row.state === 'sent')
        rows.set(w.controller, {
          state: 'running',
          consistentUntil: open ? Math.min(row.consistentUntil, w.consistentUntil) : w.consistentUntil,
          endTime: undefined,
          epoch: w.epoch,
        })
      } else if (row !== undefined && row.epoch === w.epoch && row.state === 'running') {
        rows.set(w.controller, { ...row, state: 'sent', endTime: w.time })
      }
    }
    if (isInconsistentAt([...rows.values()], g.groupTime)) continue
    consistent.push(g.groupTime)
    for (const [c, row] of rows)
      if (row.state === 'sent' && (row.endTime as number) <= g.groupTime) rows.set(c, { ...row, state: 'done' })
  }
  return consistent
}

it('no group the secondary calls consistent lacks a write the suspended controller marked (property)', () => {
  let suspendedRuns = 0
  fc.assert(
    fc.property(scenarioArb, (sc) => {
      let i = 0
      const next = (): number => sc.choices[i++ % Math.max(sc.choices.length, 1)] ?? 0
      const { streams, marked } = buildStreams(sc)
      if (marked.length > 0) suspendedRuns++
      const journal = runMover(streams, next)
      for (const t of consistentTimes(journal)) {
        const missing = marked.filter((m) => m.time <= t && (m.resent === undefined || m.resent > t))
        expect(missing, `a consistent group at ${t}`).toEqual([])
      }
    }),
    { numRuns: 1000 },
  )
  // the runs are not vacuous: many suspend and mark
  expect(suspendedRuns).toBeGreaterThan(200)
})
