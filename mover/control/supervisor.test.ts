/**
 * Property tests of the mover's supervisor against a model: for any run of
 * restarts, journal writes and their failures, intake restart requests and
 * stops, the loop restarts after retriable failures with the shared backoff
 * for as long as they go on (an outage is ridden out, and shown while it
 * lasts), halts only on what an operator must decide, and never cuts while a
 * restart, a halt or a stop is pending.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { XrcError } from '../../lib/errors.js'
import { RESTART_POLICY, Supervisor, haltError } from './supervisor.js'

/** One error of each code the model feeds the supervisor. */
const SAMPLE_ERRORS = {
  XRC_KAFKA_UNREACHABLE: () =>
    new XrcError('XRC_KAFKA_UNREACHABLE', { brokers: 'localhost:9092', cause: new Error('connection refused') }),
  XRC_TIMEOUT: () => new XrcError('XRC_TIMEOUT', { timeoutMs: 100, what: 'the journal tail' }),
  XRC_DECODE_FAILED: () => new XrcError('XRC_DECODE_FAILED', { reason: 'noValue' }),
  XRC_JOURNAL_WRITE_FAILED: () =>
    new XrcError('XRC_JOURNAL_WRITE_FAILED', {
      phase: 'send',
      groupSeq: 3,
      groupTime: '1234',
      committed: 'no',
      cause: new Error('request timed out'),
    }),
  XRC_FENCED: () => new XrcError('XRC_FENCED', { transactionalId: 'xrc.s.mover' }),
  XRC_CLOSED: () => new XrcError('XRC_CLOSED', { reason: 'groupAborted', groupSeq: 3 }),
}
type SampleCode = keyof typeof SAMPLE_ERRORS

type Event =
  | { kind: 'restart-ok' }
  | { kind: 'restart-failed'; code: SampleCode | 'plain' }
  | { kind: 'write-ok' }
  | { kind: 'write-failed'; code: SampleCode }
  | { kind: 'request' }
  | { kind: 'halt' }
  | { kind: 'stop' }

const eventArb: fc.Arbitrary<Event> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: 'restart-ok' as const }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('restart-failed' as const),
      code: fc.constantFrom<SampleCode | 'plain'>('plain', 'XRC_KAFKA_UNREACHABLE', 'XRC_TIMEOUT', 'XRC_DECODE_FAILED'),
    }),
  },
  { weight: 3, arbitrary: fc.constant({ kind: 'write-ok' as const }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('write-failed' as const),
      code: fc.constantFrom<SampleCode>(
        'XRC_JOURNAL_WRITE_FAILED',
        'XRC_JOURNAL_WRITE_FAILED',
        'XRC_FENCED',
        'XRC_CLOSED',
      ),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: 'request' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'halt' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'stop' as const }) },
)

const errorOf = (code: SampleCode | 'plain'): unknown =>
  code === 'plain' ? new Error('connection refused') : SAMPLE_ERRORS[code]()

describe('Supervisor', () => {
  it('restarts with the shared backoff as long as failures go on, halts on a fatal error, never cuts while anything is pending', () => {
    fc.assert(
      fc.property(
        fc.array(eventArb, { maxLength: 80 }),
        fc.double({ min: 0, max: 0.999, noNaN: true }),
        (events, r) => {
          const s = new Supervisor({
            groupMinIntervalMs: 0,
            groupIntervalMs: 100,
            groupMaxBytes: 1000,
            random: () => r,
          })
          // the model
          let failures = 0
          let retries = 0
          let outageSince: number | undefined
          let now = 0
          let pending = false
          let halt: XrcError | undefined
          let stopping = false
          for (const e of events) {
            now += 1000
            const step = s.next(0, () => 0)
            if (stopping || halt) {
              expect(step).toEqual({ kind: 'exit' })
              break
            }
            expect(step.kind).toBe(pending ? 'restart' : 'cut')
            expect(s.mayCut()).toBe(!pending)
            switch (e.kind) {
              case 'restart-ok':
                if (!pending) break
                s.beginRestart()
                expect(s.restarted()?.since).toBe(outageSince)
                outageSince = undefined
                pending = false
                break
              case 'restart-failed': {
                if (!pending) break
                const err = errorOf(e.code)
                s.beginRestart()
                const v = s.restartFailed(err, now)
                if (e.code === 'XRC_DECODE_FAILED') {
                  expect(v).toEqual({ kind: 'halt', error: err })
                  halt = err as XrcError
                  break
                }
                failures++
                outageSince ??= now
                const cap = Math.min(RESTART_POLICY.initialDelayMs * 2 ** retries, RESTART_POLICY.maxDelayMs)
                retries++
                expect(v).toEqual({ kind: 'retry', delayMs: Math.round(r * cap), failures })
                break
              }
              case 'write-ok':
                if (pending) break
                expect(s.journaled()?.since).toBe(outageSince)
                outageSince = undefined
                failures = 0
                retries = 0
                break
              case 'write-failed': {
                if (pending) break
                const v = s.journalFailed(errorOf(e.code), now)
                if (e.code === 'XRC_CLOSED') {
                  expect(v).toEqual({ kind: 'exit' })
                  stopping = true // only a stop aborts a write
                  s.stop()
                } else if (e.code === 'XRC_FENCED') {
                  expect(v.kind).toBe('halt')
                  halt = (v as { error: XrcError }).error
                } else {
                  failures++
                  outageSince ??= now
                  let delayMs = 0
                  if (failures > 1) {
                    delayMs = Math.round(
                      r * Math.min(RESTART_POLICY.initialDelayMs * 2 ** retries, RESTART_POLICY.maxDelayMs),
                    )
                    retries++
                  }
                  expect(v).toEqual({ kind: 'restart', failures, delayMs })
                  expect(s.outage.current?.source).toBe('kafka')
                  pending = true
                }
                break
              }
              case 'request':
                expect(s.requestRestart(new Error('reader crashed'))).toBe(!pending)
                pending = true
                break
              case 'halt': {
                const err = new Error('a bug')
                expect(s.haltWith(err)?.code).toBe('XRC_SESSION_HALTED')
                halt = s.halt
                break
              }
              case 'stop':
                s.stop()
                stopping = true
                break
            }
            if (halt !== undefined && s.halt === undefined) s.haltWith(halt) // the shell records a verdict's halt
            expect(s.failures).toBe(failures)
            // never a halt for failures in a row: only a fatal error, a stop or the shell halts
            expect(s.outage.current?.since).toBe(outageSince)
          }
        },
      ),
      { numRuns: 500 },
    )
  })

  it('keeps a restart requested while the pipeline restarts, for another restart after it', () => {
    const s = new Supervisor({ groupMinIntervalMs: 0, groupIntervalMs: 10, groupMaxBytes: 10 })
    s.requestRestart(new Error('reader crashed'))
    s.beginRestart()
    // the new run's reader delivers before its start returned, and its intake meets trouble
    expect(s.requestRestart(new Error('dead-letter topic out of reach'))).toBe(true)
    s.restarted()
    expect(s.next(0, () => 0).kind).toBe('restart')
    // and a failed restart stays requested, with its first reason
    const first = new Error('first')
    const t = new Supervisor({ groupMinIntervalMs: 0, groupIntervalMs: 10, groupMaxBytes: 10 })
    t.requestRestart(first)
    t.beginRestart()
    expect(t.restartFailed(new Error('broker down'), 0).kind).toBe('retry')
    expect(t.next(0, () => 0)).toEqual({ kind: 'restart', reason: first })
  })

  it('keeps the first halt error', () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { minLength: 1, maxLength: 5 }), (messages) => {
        const s = new Supervisor({ groupMinIntervalMs: 0, groupIntervalMs: 10, groupMaxBytes: 10 })
        const first = s.haltWith(new Error(messages[0]))
        for (const m of messages.slice(1)) expect(s.haltWith(new XrcError('XRC_FENCED', m))).toBeUndefined()
        expect(s.halt).toBe(first)
        expect(s.next(0, () => 0)).toEqual({ kind: 'exit' })
        expect(s.mayCut()).toBe(false)
      }),
    )
  })

  it('reports an XrcError as it is and anything else as XRC_SESSION_HALTED', () => {
    const fenced = new XrcError('XRC_FENCED', { transactionalId: 'xrc.s.mover' })
    expect(haltError(fenced)).toBe(fenced)
    const plain = haltError(new Error('boom'))
    expect(plain.code).toBe('XRC_SESSION_HALTED')
    expect(plain.message).toBe('mover halted: boom')
  })

  it('has one backoff and no bound on the attempts: 250 ms doubling to 8 s', () => {
    expect(RESTART_POLICY).toEqual({ initialDelayMs: 250, maxDelayMs: 8000 })
  })

  it('rides out an outage far longer than the old bound of 8, the delay capped, then recovers', () => {
    const s = new Supervisor({ groupMinIntervalMs: 0, groupIntervalMs: 10, groupMaxBytes: 10, random: () => 0.999 })
    s.requestRestart(new Error('reader crashed'))
    for (let i = 1; i <= 1000; i++) {
      s.beginRestart()
      const v = s.restartFailed(new XrcError('XRC_REGISTRY_UNREACHABLE', 'down'), i * 1000)
      expect(v.kind).toBe('retry')
      if (v.kind === 'retry') expect(v.delayMs).toBeLessThanOrEqual(RESTART_POLICY.maxDelayMs)
    }
    expect(s.outage.current).toMatchObject({ source: 'registry', since: 1000, retries: 1000 })
    s.beginRestart()
    expect(s.restarted()?.retries).toBe(1000)
    expect(s.outage.current).toBeUndefined()
    expect(s.halt).toBeUndefined()
  })
})
