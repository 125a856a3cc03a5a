import kafkajs from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { saslSettings } from '../config.js'
import { XrcError } from '../errors.js'
import { failureVerdict } from '../outage.js'
import { authorizationErrorOfMessage, isKafkaAccessFailure, kafkaAccessError } from './accessErrors.js'

const secured = { brokers: ['b1:9093', 'b2:9093'], sasl: saslSettings('SCRAM-SHA-512', 'xrc-mover', 'hunter2') }

/** kafkajs builds protocol errors from the broker's error entry; its typings say Error. */
const protocolError = (type: string, code: number): Error =>
  new kafkajs.KafkaJSProtocolError({ type, code, retriable: false, message: 'not authorized' } as unknown as Error)

/** kafkajs's refused login; its typings take no message. */
const saslError = (message: string): Error =>
  new (kafkajs.KafkaJSSASLAuthenticationError as unknown as new (m: string) => Error)(message)

/** What kafkajs throws when a TLS handshake fails on the certificate: a retriable connection error with Node's code. */
const tlsError = (code: string): Error =>
  new kafkajs.KafkaJSConnectionError(`Connection error: ${code.toLowerCase()}`, { broker: 'b1:9093', code })

describe('kafkaAccessError', () => {
  it('names authentication, the mechanism and the user (never the password) for a refused login', () => {
    const err = kafkaAccessError(saslError('SASL SCRAM SHA512 authentication failed: invalid credentials'), secured)
    expect(err).toBeInstanceOf(XrcError)
    expect(err?.code).toBe('XRC_KAFKA_AUTH_FAILED')
    expect(err?.retriable).toBe(false)
    expect(err?.message).toMatch(/refused authentication: SASL SCRAM-SHA-512 as user "xrc-mover" failed/)
    expect(err?.message).toContain('XRC_KAFKA_SASL_PASSWORD')
    expect(err?.message).not.toContain('hunter2')
    expect(JSON.stringify(err?.context)).not.toContain('hunter2')
  })

  it('says no credentials are configured when a broker asks for a login the config does not give', () => {
    const err = kafkaAccessError(saslError('no'), { brokers: ['b:1'] })
    expect(err?.code).toBe('XRC_KAFKA_AUTH_FAILED')
    expect(err?.message).toMatch(/no SASL credentials are configured/)
  })

  it('finds a TLS failure through kafkajs giving up on retries, with what to do about it', () => {
    const gaveUp = new kafkajs.KafkaJSNumberOfRetriesExceeded(tlsError('SELF_SIGNED_CERT_IN_CHAIN'), {
      retryCount: 5,
      retryTime: 1000,
    })
    const err = kafkaAccessError(gaveUp, secured)
    expect(err?.code).toBe('XRC_KAFKA_TLS_FAILED')
    expect(err?.retriable).toBe(false)
    expect(err?.message).toMatch(
      /^TLS with Kafka broker b1:9093 failed: .*SELF_SIGNED_CERT_IN_CHAIN.*kafka\.tls\.caFile/,
    )
    expect(kafkaAccessError(tlsError('ERR_TLS_CERT_ALTNAME_INVALID'), secured)?.message).toMatch(/servername/)
  })

  it('names the permission a refused call needed', () => {
    const err = kafkaAccessError(protocolError('TOPIC_AUTHORIZATION_FAILED', 29), secured, {
      permission: 'Write on topic xrc.s.updates',
    })
    expect(err?.code).toBe('XRC_KAFKA_NOT_AUTHORIZED')
    expect(err?.message).toMatch(
      /^Kafka refused User:xrc-mover TOPIC_AUTHORIZATION_FAILED: it needs Write on topic xrc\.s\.updates/,
    )
    expect(kafkaAccessError(protocolError('TRANSACTIONAL_ID_AUTHORIZATION_FAILED', 53), secured)?.message).toMatch(
      /it needs Write on its transactional id/,
    )
  })

  it('takes the refusal kafkajs only logged when it throws "Failed to find group coordinator" instead', () => {
    const lost = new (kafkajs.KafkaJSGroupCoordinatorNotFound as unknown as new (m: string) => Error)(
      'Failed to find group coordinator',
    )
    expect(kafkaAccessError(lost, secured)).toBeUndefined()
    const logged = authorizationErrorOfMessage('Transactional Id authorization failed')
    expect(logged).toBe('TRANSACTIONAL_ID_AUTHORIZATION_FAILED')
    const err = kafkaAccessError(lost, secured, {
      logged,
      permissions: { TRANSACTIONAL_ID_AUTHORIZATION_FAILED: 'Write on transactional id xrc.s.mover' },
    })
    expect(err?.message).toMatch(
      /TRANSACTIONAL_ID_AUTHORIZATION_FAILED: it needs Write on transactional id xrc\.s\.mover/,
    )
    expect(authorizationErrorOfMessage('Connection closed')).toBeUndefined()
  })

  it('leaves an outage alone: it stays retriable and is not taken for a refusal', () => {
    const down = new kafkajs.KafkaJSConnectionError('Connection error: connect ECONNREFUSED', { code: 'ECONNREFUSED' })
    expect(kafkaAccessError(down, secured)).toBeUndefined()
    expect(isKafkaAccessFailure(down)).toBe(false)
    expect(failureVerdict(down)).toBe('retry')
    expect(kafkaAccessError(protocolError('UNKNOWN_TOPIC_OR_PARTITION', 3), secured)).toBeUndefined()
  })

  it('makes the stages halt on a refusal kafkajs calls retriable', () => {
    const wrapped = new Error('reading failed', { cause: tlsError('CERT_HAS_EXPIRED') })
    expect(isKafkaAccessFailure(wrapped)).toBe(true)
    expect(failureVerdict(wrapped)).toBe('halt')
    expect(failureVerdict(protocolError('GROUP_AUTHORIZATION_FAILED', 30))).toBe('halt')
  })
})
