import {
  AuthenticationError,
  MultipleErrors,
  NetworkError,
  ProtocolError,
  TimeoutError,
  UserError,
  protocolErrors,
} from '@platformatic/kafka'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { XrcError } from '../../errors.js'
import type { KafkaConnection } from '../../config.js'
import { authorizationErrorOf, kafkaAccessError } from '../accessErrors.js'
import { fromPlatformatic, platformaticFailure, platformaticMessage } from './clientErrors.js'

const connection: KafkaConnection = { brokers: ['127.0.0.1:9092'] }
const ids = Object.keys(protocolErrors)

/** A tree of @platformatic/kafka errors, and whether each of its leaves may be retried. */
type Tree = { error: Error; retriable: boolean; ids: string[]; authentication: boolean }

const leaf: fc.Arbitrary<Tree> = fc.oneof(
  fc.constantFrom(...ids).map((id) => ({
    error: new ProtocolError(id),
    retriable: protocolErrors[id]?.canRetry ?? true,
    ids: [id],
    authentication: false,
  })),
  fc.constant(null).map(() => ({
    error: new NetworkError('Connection closed'),
    retriable: true,
    ids: [],
    authentication: false,
  })),
  fc.constant(null).map(() => ({
    error: new TimeoutError('Request timed out'),
    retriable: true,
    ids: [],
    authentication: false,
  })),
  fc.constant(null).map(() => ({
    error: new AuthenticationError('SASL authentication failed'),
    retriable: false,
    ids: [],
    authentication: true,
  })),
  fc.constant(null).map(() => ({ error: new UserError('bad use'), retriable: false, ids: [], authentication: false })),
)

const tree: fc.Arbitrary<Tree> = fc.letrec<{ tree: Tree }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('tree'), { minLength: 1, maxLength: 4 }).map((children) => ({
      error: new MultipleErrors(
        'produce failed 3 times.',
        children.map((c) => c.error),
      ),
      retriable: children.every((c) => c.retriable),
      ids: children.flatMap((c) => c.ids),
      authentication: children.some((c) => c.authentication),
    })),
  ),
})).tree

describe('platformaticFailure', () => {
  it('is retriable exactly when every error of the tree may be retried', () => {
    fc.assert(
      fc.property(tree, (t) => {
        const f = platformaticFailure(t.error)
        expect(f.retriable).toBe(t.retriable)
        expect(f.authentication).toBe(t.authentication)
        if (t.ids.length === 0) expect(f.type).toBeUndefined()
        else expect(t.ids).toContain(f.type)
      }),
      { numRuns: 2000 },
    )
  })

  it('names the broker answer that cannot be retried before any that can', () => {
    const err = new MultipleErrors('x', [
      new ProtocolError('NOT_LEADER_OR_FOLLOWER'),
      new ProtocolError('TOPIC_AUTHORIZATION_FAILED'),
      new ProtocolError('REQUEST_TIMED_OUT'),
    ])
    expect(platformaticFailure(err)).toEqual({
      retriable: false,
      authentication: false,
      type: 'TOPIC_AUTHORIZATION_FAILED',
    })
  })

  it('takes a network failure, also as a cause, for an outage', () => {
    const err = new NetworkError('Connection to 127.0.0.1:9 failed.', { cause: new Error('connect ECONNREFUSED') })
    expect(platformaticFailure(err)).toEqual({ retriable: true, authentication: false })
    expect(platformaticMessage(err)).toBe('Connection to 127.0.0.1:9 failed.: connect ECONNREFUSED')
  })

  it('gives what is not an error a retriable failure', () => {
    expect(platformaticFailure('boom')).toEqual({ retriable: true, authentication: false })
    expect(platformaticMessage('boom')).toBe('boom')
  })
})

describe('fromPlatformatic and the access errors', () => {
  it('makes a refused ACL XRC_KAFKA_NOT_AUTHORIZED, as from kafkajs', () => {
    const err = fromPlatformatic(new MultipleErrors('x', [new ProtocolError('TOPIC_AUTHORIZATION_FAILED')]))
    expect(authorizationErrorOf(err)).toBe('TOPIC_AUTHORIZATION_FAILED')
    const access = kafkaAccessError(err, connection, { permission: 'Write on topic t' })
    expect(access).toBeInstanceOf(XrcError)
    expect(access?.code).toBe('XRC_KAFKA_NOT_AUTHORIZED')
    expect(access?.retriable).toBe(false)
  })

  it('makes a refused SASL login XRC_KAFKA_AUTH_FAILED naming the user', () => {
    const sasl = { mechanism: 'SCRAM-SHA-512' as const, username: 'mover', password: 'p' }
    const err = fromPlatformatic(new AuthenticationError('SASL authentication failed'))
    const access = kafkaAccessError(err, { ...connection, sasl })
    expect(access?.code).toBe('XRC_KAFKA_AUTH_FAILED')
    expect(access?.message).toContain('mover')
  })

  it('leaves an outage to the caller: no access error, retriable', () => {
    const err = fromPlatformatic(new NetworkError('Connection closed'))
    expect(kafkaAccessError(err, connection)).toBeUndefined()
    expect(err.retriable).toBe(true)
  })
})
