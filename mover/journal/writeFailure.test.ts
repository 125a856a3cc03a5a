/**
 * Property test of the journal writer's failure model: a group is reported
 * 'committed: no' only when its commit was never sent (or the broker
 * aborted the expired transaction), a takeover is fatal, and only
 * XRC_JOURNAL_WRITE_FAILED is retriable (the mover restarts from the tail).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { XrcError } from '../../lib/errors.js'
import { type WritePhase, isFencedError, writeFailure } from './writeFailure.js'

const errArb = fc.constantFrom(
  { kind: 'fenced', err: { type: 'INVALID_PRODUCER_EPOCH', message: 'old epoch' } as unknown },
  { kind: 'fenced', err: new Error('retries exceeded', { cause: new Error('Unknown error code 90') }) as unknown },
  { kind: 'closed', err: new XrcError('XRC_CLOSED', { reason: 'groupAborted', groupSeq: 3 }) as unknown },
  { kind: 'other', err: new Error('Connection error: ECONNREFUSED') as unknown },
  { kind: 'other', err: { type: 'REQUEST_TIMED_OUT' } as unknown },
)

describe('writeFailure', () => {
  it('reports fenced, expired and indefinite failures as the failure model says', () => {
    fc.assert(
      fc.property(
        errArb,
        fc.constantFrom<WritePhase>('begin', 'send', 'commit', 'committed'),
        fc.nat(120_000),
        fc.integer({ min: 1, max: 60_000 }),
        ({ kind, err }, phase, elapsedMs, transactionTimeoutMs) => {
          const group = { session: 's', groupSeq: 7, groupTime: 1234 }
          const f = writeFailure({ err, phase, elapsedMs, transactionTimeoutMs, group, transactionalId: 'tx' })
          if (kind === 'closed') {
            expect(f).toBe(err)
            return
          }
          expect(f.cause).toBe(err)
          expect(f.context).toMatchObject({ session: 's', groupSeq: 7, groupTime: '1234' })
          const expired = kind === 'fenced' && elapsedMs >= transactionTimeoutMs
          if (kind === 'fenced' && !expired) {
            expect(f.code).toBe('XRC_FENCED')
            expect(f.retriable).toBe(false)
            return
          }
          expect(f.code).toBe('XRC_JOURNAL_WRITE_FAILED')
          expect(f.retriable).toBe(true)
          const sent = phase === 'commit' || phase === 'committed'
          expect(f.context.committed).toBe(expired || !sent ? 'no' : 'unknown')
          expect(f.context.expired).toBe(expired ? true : undefined)
        },
      ),
    )
  })

  it('finds a fenced epoch however deep kafkajs wraps it (up to 5 levels)', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('cause', 'errors'), { maxLength: 8 }), (path) => {
        let err: unknown = { type: 'PRODUCER_FENCED' }
        for (const how of path) err = how === 'cause' ? { message: 'wrapped', cause: err } : { errors: [{}, err] }
        expect(isFencedError(err)).toBe(path.length <= 5)
      }),
    )
  })
})
