import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ERROR_CODES, XrcError, type ErrorCode } from './errors.js'
import { OutageWatch, failureVerdict, outageReason, outageSource, type OutageSource } from './outage.js'

const codes = Object.keys(ERROR_CODES) as ErrorCode[]
const sources: OutageSource[] = ['kafka', 'registry', 'postgres', 'other']

/** An XrcError of `code` without a message template's context (the message is given). */
const xrc = (code: ErrorCode, cause?: unknown): XrcError => new XrcError(code, `a ${code}`, { cause })

describe('failureVerdict', () => {
  it('retries exactly what is retriable: a retriable code or a foreign (network) error; halts the rest', () => {
    fc.assert(
      fc.property(fc.constantFrom(...codes), (code) => {
        expect(failureVerdict(xrc(code))).toBe(ERROR_CODES[code].retriable ? 'retry' : 'halt')
      }),
    )
    expect(failureVerdict(new Error('connect ECONNREFUSED'))).toBe('retry')
    expect(failureVerdict(new TypeError('x is undefined'))).toBe('halt')
    expect(failureVerdict(xrc('XRC_GROUP_OUT_OF_ORDER'))).toBe('halt')
    expect(failureVerdict(xrc('XRC_DECODE_FAILED'))).toBe('halt')
  })
})

describe('outageSource', () => {
  it('names the server from the code, through causes, else the fallback', () => {
    expect(outageSource(xrc('XRC_POSTGRES_UNREACHABLE'))).toBe('postgres')
    expect(outageSource(xrc('XRC_COMMIT_UNKNOWN'))).toBe('postgres')
    expect(outageSource(xrc('XRC_REGISTRY_UNREACHABLE'))).toBe('registry')
    expect(outageSource(xrc('XRC_JOURNAL_WRITE_FAILED'))).toBe('kafka')
    expect(outageSource(xrc('XRC_TIMEOUT', xrc('XRC_KAFKA_UNREACHABLE')))).toBe('kafka')
    const kafkajs = Object.assign(new Error('Connection error'), { name: 'KafkaJSConnectionError' })
    expect(outageSource(kafkajs)).toBe('kafka')
    expect(outageSource(new Error('terminating connection'), 'postgres')).toBe('postgres')
    expect(outageSource(new Error('?'))).toBe('other')
  })

  it('never loops on a cyclic cause chain', () => {
    const a = new Error('a')
    const b = new Error('b', { cause: a })
    ;(a as { cause?: unknown }).cause = b
    expect(outageSource(a, 'postgres')).toBe('postgres')
  })
})

describe('OutageWatch', () => {
  it('an outage begins at its first failure, counts each retry, keeps the last error, and ends on recovery', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant('fail' as const), source: fc.constantFrom(...sources), dt: fc.nat(5000) }),
            fc.record({ kind: fc.constant('ok' as const), dt: fc.nat(5000) }),
          ),
          { maxLength: 40 },
        ),
        (events) => {
          const watch = new OutageWatch()
          let now = 1_000_000
          let model: { since: number; retries: number } | undefined
          for (const [i, e] of events.entries()) {
            now += e.dt
            if (e.kind === 'fail') {
              model = { since: model?.since ?? now, retries: (model?.retries ?? 0) + 1 }
              const o = watch.failed(e.source, new Error(`e${i}`), now)
              expect(o).toMatchObject({ ...model, source: e.source, lastError: `e${i}` })
            } else {
              expect(watch.recovered()?.retries).toBe(model?.retries)
              model = undefined
            }
            expect(watch.current?.since).toBe(model?.since)
            if (watch.current) expect(outageReason(watch.current, now)).toMatch(/retrying as long as it lasts/)
          }
        },
      ),
    )
  })

  it('says which server, for how long and how many attempts failed', () => {
    const watch = new OutageWatch()
    watch.failed('postgres', new Error('ECONNREFUSED'), 0)
    const o = watch.failed('postgres', new Error('the database system is starting up'), 12_400)
    expect(outageReason(o, 30_000)).toBe(
      'PostgreSQL unavailable for 30 s (2 attempts failed; retrying as long as it lasts): ' +
        'the database system is starting up',
    )
  })
})
