import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { INITIAL, recordOf, step, type MachineState, type MirrorEffect, type MirrorEvent } from './mirrorMachine.js'
import { resumesByItself, type MirrorRecord, type SuspendReason } from './mirrorRecord.js'

const REASONS: readonly SuspendReason[] = ['kafka-unreachable', 'sidefile-full', 'operator', 'journal-lost']

/** Events as the shell may send them, with epochs near the machine's so the guarded steps get exercised. */
type Abstract =
  | { type: 'start'; state: MirrorRecord['state']; s: number; epoch: number; pending: number }
  | { type: 'stop' }
  | { type: 'suspend'; reason: SuspendReason }
  | { type: 'resume' }
  | { type: 'begin-durable'; delta: number }
  | { type: 'resyncing-saved'; delta: number; topicsRemade: boolean }
  | { type: 'runners-ended'; delta: number; allDone: boolean }
  | { type: 'end-appended'; delta: number }
  | { type: 'rebase' }

/** Mostly the epoch in play, sometimes a stale or a future one. */
const delta = fc.oneof(
  { arbitrary: fc.constant(0), weight: 4 },
  { arbitrary: fc.integer({ min: -1, max: 1 }), weight: 1 },
)
const abstractEvent: fc.Arbitrary<Abstract> = fc.oneof(
  fc.record({
    type: fc.constant('start' as const),
    state: fc.constantFrom('duplex' as const, 'suspended' as const, 'resyncing' as const),
    s: fc.nat(1000),
    epoch: fc.nat(5),
    pending: fc.nat(3),
  }),
  fc.constant({ type: 'stop' as const }),
  fc.record({ type: fc.constant('suspend' as const), reason: fc.constantFrom(...REASONS) }),
  fc.constant({ type: 'resume' as const }),
  fc.record({ type: fc.constant('begin-durable' as const), delta }),
  fc.record({ type: fc.constant('resyncing-saved' as const), delta, topicsRemade: fc.boolean() }),
  fc.record({ type: fc.constant('runners-ended' as const), delta, allDone: fc.boolean() }),
  fc.record({ type: fc.constant('end-appended' as const), delta }),
  fc.constant({ type: 'rebase' as const }),
)

const RUNNING: MachineState = { ...INITIAL, running: true }

/** Runs abstract events from a started machine with a growing clock; yields each step. */
function run(
  events: readonly Abstract[],
  from: MachineState = RUNNING,
): { before: MachineState; event: MirrorEvent; after: MachineState; effects: MirrorEffect[] }[] {
  let clock = 1000
  const tick = (): number => ++clock
  let s = from
  const steps = []
  // the shell reports a BEGIN or END durable only after the machine asked for it
  const asked = new Set<string>()
  for (const a of events) {
    const event = concrete(a, s, tick)
    if ((event.type === 'begin-durable' || event.type === 'end-appended') && !asked.has(`${event.type}:${event.epoch}`))
      continue
    const { state, effects } = step(s, event)
    for (const e of effects) {
      if (e.type === 'append-begin') asked.add(`begin-durable:${e.epoch}`)
      if (e.type === 'append-end') asked.add(`end-appended:${e.epoch}`)
    }
    steps.push({ before: s, event, after: state, effects })
    s = state
  }
  return steps
}

function concrete(a: Abstract, s: MachineState, tick: () => number): MirrorEvent {
  const now = '2026-01-01T00:00:00.000Z'
  switch (a.type) {
    case 'start': {
      const record: MirrorRecord = {
        state: a.state,
        consistentUntil: a.s,
        epoch: a.epoch,
        reason: 'operator',
        since: now,
      }
      return { type: 'start', records: [{ record, pending: a.pending }] }
    }
    case 'stop':
    case 'resume':
      return a
    case 'suspend':
      return { type: 'suspend', reason: a.reason, tick, now }
    case 'rebase':
      return { type: 'rebase', tick, now }
    case 'begin-durable':
      return { type: 'begin-durable', epoch: s.epoch + 1 + a.delta }
    case 'resyncing-saved':
      return { type: 'resyncing-saved', epoch: s.epoch + a.delta, topicsRemade: a.topicsRemade }
    case 'runners-ended':
      return { type: 'runners-ended', epoch: s.epoch + a.delta, allDone: a.allDone }
    case 'end-appended':
      return { type: 'end-appended', epoch: s.epoch + a.delta, endTime: tick() }
  }
}

const runs = fc.array(abstractEvent, { maxLength: 60, size: 'max' })
/** Events a started process sends (no restart in between, which may take up any saved state). */
const liveRuns = fc.array(
  abstractEvent.filter((e) => e.type !== 'start'),
  { maxLength: 60, size: 'max' },
)

describe('mirror state machine', () => {
  it('S never increases within an unfinished window', () => {
    fc.assert(
      fc.property(liveRuns, (events) => {
        for (const { before, after } of run(events))
          if (before.state !== 'duplex' && after.state !== 'duplex')
            expect(after.consistentUntil).toBeLessThanOrEqual(before.consistentUntil)
      }),
    )
  })

  it('the epoch and the capture epoch only grow', () => {
    fc.assert(
      fc.property(liveRuns, (events) => {
        for (const { before, after } of run(events)) {
          expect(after.epoch).toBeGreaterThanOrEqual(before.epoch)
          expect(after.captureEpoch).toBeGreaterThanOrEqual(before.captureEpoch)
        }
      }),
    )
  })

  it('never captures (and so never sends heartbeats) while suspended', () => {
    fc.assert(
      fc.property(runs, (events) => {
        for (const { after } of run(events, INITIAL)) if (after.state === 'suspended') expect(after.mode).toBe('mark')
      }),
    )
  })

  it('captures again only after the BEGIN of the epoch was durable and the resyncing state saved', () => {
    fc.assert(
      fc.property(liveRuns, (events) => {
        let begun = -1
        for (const { before, event, after } of run(events)) {
          if (event.type === 'begin-durable' && after.state === 'resyncing') begun = after.epoch
          if (before.mode === 'mark' && after.mode === 'capture') {
            expect(event.type).toBe('resyncing-saved')
            expect(after.epoch).toBe(begun)
          }
        }
      }),
    )
  })

  it('an END is asked for only when every runner of the running epoch finished, and duplex follows only it', () => {
    fc.assert(
      fc.property(liveRuns, (events) => {
        let endAsked: number | undefined
        for (const { before, event, after, effects } of run(events)) {
          const ends = effects.filter((e) => e.type === 'append-end')
          for (const e of ends) {
            expect(event).toMatchObject({ type: 'runners-ended', allDone: true, epoch: before.epoch })
            expect(before).toMatchObject({ state: 'resyncing', running: true, epoch: e.epoch })
            endAsked = e.epoch
          }
          if (before.state === 'resyncing' && after.state === 'duplex') {
            expect(event).toMatchObject({ type: 'end-appended', epoch: before.epoch })
            expect(before.running).toBe(true)
            expect(endAsked).toBe(before.epoch)
          }
          if (after.state !== 'resyncing') endAsked = undefined
        }
      }),
    )
  })

  it('a suspension by the operator or a lost journal never turns into one that resumes by itself', () => {
    fc.assert(
      fc.property(liveRuns, (events) => {
        for (const { before, after } of run(events))
          if (before.state === 'suspended' && !resumesByItself(before.reason, true) && after.state === 'suspended')
            expect(resumesByItself(after.reason, true)).toBe(false)
      }),
    )
  })

  it('a resume plans a BEGIN with the current S and the next epoch, and changes nothing yet', () => {
    fc.assert(
      fc.property(liveRuns, (events) => {
        for (const { before, event, after, effects } of run(events))
          if (event.type === 'resume') {
            expect(after).toEqual(before)
            if (before.state === 'suspended')
              expect(effects).toEqual([
                {
                  type: 'append-begin',
                  epoch: before.epoch + 1,
                  consistentUntil: before.consistentUntil,
                  reason: before.reason ?? 'operator',
                  topicsRemade: before.reason === 'journal-lost',
                },
              ])
            else expect(effects).toEqual([])
          }
      }),
    )
  })

  it('every save carries the state as it is after the step (a suspension saves its own S first)', () => {
    fc.assert(
      fc.property(liveRuns, (events) => {
        for (const { event, after, effects } of run(events)) {
          const saves = effects.filter((e) => e.type === 'save' || e.type === 'suspended')
          const last = saves.at(-1)
          if (last !== undefined && event.type !== 'rebase') expect(last.record).toEqual(recordOf(after))
          if (event.type === 'rebase') {
            expect(after).toMatchObject({
              state: 'suspended',
              reason: 'journal-lost',
              consistentUntil: 0,
              mode: 'mark',
            })
            expect(last?.record).toEqual(recordOf(after))
          }
        }
      }),
    )
  })

  it('the generated runs reach every transition, so the properties above are not vacuous', () => {
    const seen = new Set<string>()
    fc.assert(
      fc.property(liveRuns, (events) => {
        for (const { before, after } of run(events)) seen.add(`${before.state}->${after.state}`)
      }),
      { numRuns: 300, seed: 1 },
    )
    for (const t of ['duplex->suspended', 'suspended->resyncing', 'resyncing->suspended', 'resyncing->duplex'])
      expect(seen).toContain(t)
  })

  it('walks a whole outage: suspend, resume, resync, END, duplex', () => {
    let s: MachineState = step(INITIAL, { type: 'start', records: [] }).state
    const now = 'x'
    s = step(s, { type: 'suspend', reason: 'kafka-unreachable', tick: () => 42, now }).state
    expect(s).toMatchObject({ state: 'suspended', consistentUntil: 42, mode: 'mark', captureEpoch: 1 })
    const plan = step(s, { type: 'resume' }).effects
    expect(plan).toMatchObject([{ type: 'append-begin', epoch: 1, consistentUntil: 42 }])
    s = step(s, { type: 'begin-durable', epoch: 1 }).state
    expect(s).toMatchObject({ state: 'resyncing', epoch: 1, mode: 'mark' })
    const capture = step(s, { type: 'resyncing-saved', epoch: 1, topicsRemade: false })
    expect(capture.effects).toEqual([{ type: 'capturing', epoch: 1, topicsRemade: false }])
    s = capture.state
    expect(s).toMatchObject({ mode: 'capture', captureEpoch: 2 })
    expect(step(s, { type: 'runners-ended', epoch: 1, allDone: false }).effects).toEqual([])
    expect(step(s, { type: 'runners-ended', epoch: 1, allDone: true }).effects).toEqual([
      { type: 'append-end', epoch: 1 },
    ])
    const done = step(s, { type: 'end-appended', epoch: 1, endTime: 99 })
    expect(done.state).toMatchObject({ state: 'duplex', consistentUntil: 0, epoch: 1 })
    expect(done.effects[0]).toEqual({ type: 'resync-complete', epoch: 1, endTime: 99 })
  })

  it('an END of an earlier epoch, or one that lands after stop, leaves the resync as it is', () => {
    const s: MachineState = { ...INITIAL, running: true, state: 'resyncing', epoch: 4, consistentUntil: 7 }
    expect(step(s, { type: 'end-appended', epoch: 3, endTime: 9 })).toEqual({ state: s, effects: [] })
    const stopped = step(s, { type: 'stop' }).state
    expect(step(stopped, { type: 'end-appended', epoch: 4, endTime: 9 })).toEqual({ state: stopped, effects: [] })
    expect(step(stopped, { type: 'runners-ended', epoch: 4, allDone: true }).effects).toEqual([])
  })

  it('a suspension during the resync keeps S and a later END of that epoch is ignored', () => {
    let s: MachineState = { ...INITIAL, running: true, state: 'resyncing', epoch: 3, consistentUntil: 7 }
    s = step(s, { type: 'suspend', reason: 'sidefile-full', tick: () => 1000, now: 'x' }).state
    expect(s).toMatchObject({ state: 'suspended', consistentUntil: 7, mode: 'mark' })
    expect(step(s, { type: 'end-appended', epoch: 3, endTime: 9 }).state).toEqual(s)
    expect(step(s, { type: 'runners-ended', epoch: 3, allDone: true }).effects).toEqual([])
  })

  it('a BEGIN reported durable for another epoch than the next is stale: the epoch does not move back', () => {
    let s: MachineState = { ...INITIAL, running: true, state: 'resyncing', epoch: 1, consistentUntil: 7 }
    s = step(s, { type: 'suspend', reason: 'kafka-unreachable', tick: () => 1000, now: 'x' }).state
    // the window of epoch 1 was suspended; its BEGIN reported again must not reopen it
    expect(step(s, { type: 'begin-durable', epoch: 1 })).toEqual({ state: s, effects: [] })
    expect(step(s, { type: 'begin-durable', epoch: 3 })).toEqual({ state: s, effects: [] })
    expect(step(s, { type: 'begin-durable', epoch: 2 }).state).toMatchObject({ state: 'resyncing', epoch: 2 })
  })
})
