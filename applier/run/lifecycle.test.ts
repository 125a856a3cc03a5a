import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { XrcError } from '../../lib/errors.js'
import { ApplierLifecycle, type ApplierState } from './lifecycle.js'

type Event = 'begin' | 'run' | 'requestStop' | 'reachStopTime' | 'halt' | 'ended'
const EVENTS: Event[] = ['begin', 'run', 'requestStop', 'reachStopTime', 'halt', 'ended']

function fire(l: ApplierLifecycle, e: Event, n: number): void {
  switch (e) {
    case 'begin':
      try {
        l.begin()
      } catch (err) {
        expect(err).toMatchObject({ code: 'XRC_USAGE' })
      }
      return
    case 'run':
      l.run()
      return
    case 'requestStop':
      l.requestStop()
      return
    case 'reachStopTime':
      l.reachStopTime()
      return
    case 'halt':
      l.halt(new XrcError('XRC_GROUP_OUT_OF_ORDER', { reason: 'emptyStart', groupSeq: n, groupTime: 1, offset: 0 }))
      return
    case 'ended':
      l.ended()
  }
}

/** Where each state may go next (any state may halt; nothing leaves halted). */
const NEXT: Record<ApplierState, readonly ApplierState[]> = {
  new: ['new', 'starting', 'stopping', 'halted'],
  starting: ['starting', 'running', 'stopping', 'halted'],
  running: ['running', 'stopping', 'halted'],
  stopping: ['stopping', 'stopped', 'halted'],
  stopped: ['stopped', 'halted'],
  halted: ['halted'],
}

describe('ApplierLifecycle', () => {
  it('runs new -> starting -> running -> stopping -> stopped', () => {
    const l = new ApplierLifecycle()
    expect(l.health()).toBe('starting')
    l.begin()
    expect(l.run()).toBe(true)
    expect(l.health()).toBe('ok')
    l.requestStop()
    expect(l.state).toBe('stopping')
    l.ended()
    expect(l.state).toBe('stopped')
    expect(l.end()).toEqual({ outcome: 'stopped', reason: 'requested' })
  })

  it('refuses a second start() with XRC_USAGE', () => {
    const l = new ApplierLifecycle()
    l.begin()
    expect(() => l.begin()).toThrow(/applier already starting: start\(\) is called once/)
  })

  it('does not run when stop() came during the start', () => {
    const l = new ApplierLifecycle()
    l.begin()
    l.requestStop()
    expect(l.run()).toBe(false)
    expect(l.state).toBe('stopping')
  })

  it('ends finished at the stop time, even when a stop was requested meanwhile', () => {
    const l = new ApplierLifecycle()
    l.begin()
    l.run()
    l.requestStop()
    l.reachStopTime()
    l.ended()
    expect(l.end()).toEqual({ outcome: 'stopped', reason: 'finished' })
  })

  it('reports an XrcError halt as halted with its code, anything else as failed', () => {
    const halted = new ApplierLifecycle()
    halted.halt(new XrcError('XRC_DECODE_FAILED', { reason: 'noJournalValue', offset: '3' }))
    expect(halted.end()).toMatchObject({ outcome: 'halted', code: 'XRC_DECODE_FAILED' })
    expect(halted.haltStatus()).toEqual({
      code: 'XRC_DECODE_FAILED',
      message: 'journal record at offset 3 has no value',
    })
    const failed = new ApplierLifecycle()
    failed.halt(new Error('boom'))
    expect(failed.end()).toMatchObject({ outcome: 'failed' })
    expect(failed.haltStatus()).toEqual({ code: undefined, message: 'boom' })
  })

  it('keeps its invariants under any sequence of events (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...EVENTS), { maxLength: 40 }), (events) => {
        const l = new ApplierLifecycle()
        let firstHalt: unknown
        let everStarted = false
        for (const [i, e] of events.entries()) {
          const before = l.state
          fire(l, e, i + 1)
          const after = l.state
          // only the transitions the diagram allows
          expect(NEXT[before]).toContain(after)
          // the first halt is the one kept; halted is terminal
          if (l.halted && firstHalt === undefined) firstHalt = l.haltError
          if (firstHalt !== undefined) {
            expect(l.state).toBe('halted')
            expect(l.haltError).toBe(firstHalt)
          }
          // running only after a start, and only from starting
          if (after === 'running') expect(before === 'starting' || before === 'running').toBe(true)
          if (after === 'starting') everStarted = true
          if (after === 'running') expect(everStarted).toBe(true)
        }
        // the end agrees with the state
        const end = l.end()
        if (l.halted) expect(end.outcome).not.toBe('stopped')
        else
          expect(end).toEqual({ outcome: 'stopped', reason: l.stopReason === 'stop-time' ? 'finished' : 'requested' })
        expect(l.health()).toBe(
          l.state === 'halted'
            ? 'halted'
            : l.state === 'running'
              ? 'ok'
              : l.state === 'new' || l.state === 'starting'
                ? 'starting'
                : 'degraded',
        )
      }),
    )
  })
})
