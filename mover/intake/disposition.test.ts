/**
 * Property tests of the bad-input table: nothing is skipped silently, and a
 * record that carries the controller's next seqs never passes over them.
 */
import fc from 'fast-check'
import type { ReadRecord } from '../../lib/kafka/index.js'
import { describe, expect, it } from 'vitest'
import { ERROR_CODES, XrcError, type ErrorCode } from '../../lib/errors.js'
import { HEADERS } from '../../schemas/topicNames.js'
import {
  claimsNextSeq,
  decodedSeqs,
  dispositionOfRefused,
  dispositionOfUndecodable,
  headerSeqs,
} from './disposition.js'

const codes = Object.keys(ERROR_CODES) as ErrorCode[]
const errArb = fc.oneof(
  fc.constantFrom(...codes).map((code) => new XrcError(code, code) as unknown),
  fc.constant(new Error('a bug') as unknown),
)

describe('dispositionOfUndecodable', () => {
  it('freezes a record that claims the next seqs, dead-letters (skipped) any other bad record, fails on the rest', () => {
    fc.assert(
      fc.property(errArb, fc.boolean(), (err, claims) => {
        const d = dispositionOfUndecodable(err, () => claims)
        const bad =
          err instanceof XrcError &&
          ['XRC_DECODE_FAILED', 'XRC_INVALID_RECORD', 'XRC_RECORD_TOO_LARGE'].includes(err.code)
        if (!bad) expect(d).toEqual({ kind: 'fail' })
        else if (claims) expect(d).toEqual({ kind: 'freeze', takeable: false })
        else expect(d).toEqual({ kind: 'set-aside', action: 'skipped' })
      }),
    )
  })
})

describe('dispositionOfRefused', () => {
  it('freezes a gap (takeable), a regression and an invalid record with the next seqs; drops re-sends; fails on the rest', () => {
    fc.assert(
      fc.property(errArb, fc.boolean(), (err, claims) => {
        const d = dispositionOfRefused(err, () => claims)
        const code = err instanceof XrcError ? err.code : undefined
        if (code === 'XRC_SEQUENCE_GAP') expect(d).toEqual({ kind: 'freeze', takeable: true })
        else if (code === 'XRC_TIME_REGRESSION') expect(d).toEqual({ kind: 'freeze', takeable: false })
        else if (code === 'XRC_DUPLICATE_SEQUENCE') expect(d).toEqual({ kind: 'set-aside', action: 'dropped' })
        else if (code === 'XRC_INVALID_RECORD')
          expect(d).toEqual(claims ? { kind: 'freeze', takeable: false } : { kind: 'set-aside', action: 'dropped' })
        else expect(d).toEqual({ kind: 'fail' })
        // a retriable error is never bad input: the pipeline restarts and reads the record again
        if (err instanceof XrcError && err.retriable) expect(d.kind).toBe('fail')
      }),
    )
  })
})

describe('claimsNextSeq', () => {
  it("is true only for the partition's own configured controller, reaching its next seq", () => {
    fc.assert(
      fc.property(
        fc.nat(4),
        fc.record({ controller: fc.nat(4), firstSeq: fc.nat(20), span: fc.nat(5) }),
        fc.option(fc.nat(30)),
        (partition, s, expected) => {
          const seqs = { controller: s.controller, firstSeq: s.firstSeq, lastSeq: s.firstSeq + s.span - 1 }
          const controllers = [0, 1, 3]
          const got = claimsNextSeq(partition, seqs, controllers, expected ?? undefined)
          const want =
            s.controller === partition &&
            controllers.includes(partition) &&
            (expected === null || seqs.lastSeq >= expected)
          expect(got).toBe(want)
          expect(claimsNextSeq(partition, undefined, controllers, expected ?? undefined)).toBe(false)
        },
      ),
    )
  })
})

describe('claimed seqs', () => {
  const message = (headers: Record<string, string>): ReadRecord =>
    ({
      offset: '0',
      headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Buffer.from(v)])),
    }) as never

  it('reads them from the headers only when all three are integers', () => {
    expect(headerSeqs(message({ [HEADERS.controller]: '2', [HEADERS.firstSeq]: '5', [HEADERS.lastSeq]: '7' }))).toEqual(
      {
        controller: 2,
        firstSeq: 5,
        lastSeq: 7,
      },
    )
    expect(headerSeqs(message({ [HEADERS.controller]: '2', [HEADERS.firstSeq]: '5' }))).toBeUndefined()
    expect(
      headerSeqs(message({ [HEADERS.controller]: 'x', [HEADERS.firstSeq]: '5', [HEADERS.lastSeq]: '7' })),
    ).toBeUndefined()
  })

  it("reads them from an error's context only when all three are integers", () => {
    const ctx = { controller: 1, firstSeq: 3, lastSeq: 4 }
    const problem = 'session "t", expected "s"'
    expect(decodedSeqs(new XrcError('XRC_INVALID_RECORD', { ...ctx, problem }))).toEqual(ctx)
    const noSeqs = new XrcError('XRC_INVALID_RECORD', {
      reason: 'notInteger',
      what: 'block',
      value: 'x',
      controller: 1,
    })
    expect(decodedSeqs(noSeqs)).toBeUndefined()
  })
})
