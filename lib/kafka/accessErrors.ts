/**
 * Kafka refusing this client, as the catalogue's errors: kafkajs gives up at
 * once on a refused SASL login (non-retriable) but takes a failed TLS
 * handshake for a connection error it retries, and a refused ACL for a
 * protocol error the caller may retry; none of them is mended by waiting.
 * {@link kafkaAccessError} names each one, non-retriable, so a service stops
 * at start-up with the reason instead of retrying for as long as an outage
 * would last. Pure: no I/O.
 */
import type { KafkaConnection } from '../config.js'
import { XrcError } from '../errors.js'

/** Node's codes of a TLS handshake that failed on the certificate, with what to do about each. */
const TLS_HINTS: Readonly<Record<string, string>> = {
  SELF_SIGNED_CERT_IN_CHAIN:
    "the broker's certificate is not signed by a CA in kafka.tls.caFile (XRC_KAFKA_TLS_CA_FILE)",
  DEPTH_ZERO_SELF_SIGNED_CERT: "the broker's certificate is self-signed: put it (or its CA) in kafka.tls.caFile",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    "the broker's certificate is not signed by a CA in kafka.tls.caFile (XRC_KAFKA_TLS_CA_FILE)",
  UNABLE_TO_GET_ISSUER_CERT: "the issuer of the broker's certificate is not in kafka.tls.caFile",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "the issuer of the broker's certificate is not in kafka.tls.caFile",
  CERT_SIGNATURE_FAILURE: "the broker's certificate does not verify against kafka.tls.caFile",
  CERT_UNTRUSTED: "the broker's certificate is not trusted by kafka.tls.caFile",
  CERT_REJECTED: "the broker's certificate is rejected by kafka.tls.caFile",
  CERT_REVOKED: "the broker's certificate is revoked",
  CERT_HAS_EXPIRED: "the broker's certificate has expired: the broker needs a new one",
  CERT_NOT_YET_VALID: "the broker's certificate is not valid yet (or a clock is wrong)",
  ERR_TLS_CERT_ALTNAME_INVALID:
    "the broker's certificate does not name the host connected to: use a name it holds in kafka.brokers, " +
    'or set kafka.tls.servername',
  ERR_SSL_WRONG_VERSION_NUMBER:
    'the broker does not speak TLS at this address (a PLAINTEXT or SASL_PLAINTEXT listener?): ' +
    'check kafka.brokers and kafka.tls',
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: 'the broker does not trust the client certificate (kafka.tls.certFile)',
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: 'the broker refused the client certificate (kafka.tls.certFile)',
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED:
    'the broker requires a client certificate: set kafka.tls.certFile and kafka.tls.keyFile',
}

/** What each of Kafka's authorization errors refuses, when the caller does not say which permission. */
const AUTHORIZATION_ERRORS: Readonly<Record<string, string>> = {
  TOPIC_AUTHORIZATION_FAILED: "Describe, Read or Write on the session's topics",
  GROUP_AUTHORIZATION_FAILED: 'Read on its consumer group',
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: 'Write on its transactional id',
  CLUSTER_AUTHORIZATION_FAILED: 'a cluster permission (IdempotentWrite, or Create for topics)',
}

/** The Kafka authorization error `err` carries (through its causes), e.g. TOPIC_AUTHORIZATION_FAILED. */
export function authorizationErrorOf(err: unknown): string | undefined {
  for (const e of causes(err)) {
    const type = (e as { type?: unknown }).type
    if (typeof type === 'string' && Object.hasOwn(AUTHORIZATION_ERRORS, type)) return type
  }
  return undefined
}

/** True when `err` (or a cause) is a failure of authentication, TLS or authorization that no retry mends. */
export function isKafkaAccessFailure(err: unknown): boolean {
  for (const e of causes(err)) {
    if (isAccessCode(e)) return true
    if (isLoginRefused(e)) return true
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && Object.hasOwn(TLS_HINTS, code)) return true
  }
  return authorizationErrorOf(err) !== undefined
}

export interface AccessContext {
  /** The permission the failed call needed, as kafka-acls names it ("Write on topic xrc.demo.updates"). */
  permission?: string
  /** Else the permission by Kafka's error (TOPIC_AUTHORIZATION_FAILED...): a stage's grants (stagePermissions). */
  permissions?: Readonly<Record<string, string>>
  /**
   * The authorization error the client last logged (lastRefusal): kafkajs drops the broker's answer to
   * FindCoordinator and throws "Failed to find group coordinator" without it.
   */
  logged?: string | undefined
}

/**
 * `err` as XRC_KAFKA_AUTH_FAILED, XRC_KAFKA_TLS_FAILED or
 * XRC_KAFKA_NOT_AUTHORIZED (non-retriable, naming the setting or the
 * permission), or undefined when it is not a failure of security.
 */
export function kafkaAccessError(
  err: unknown,
  connection: KafkaConnection,
  context: AccessContext = {},
): XrcError | undefined {
  const brokers = connection.brokers.join(',')
  for (const e of causes(err)) {
    if (isAccessCode(e)) return e as XrcError
    if (isLoginRefused(e)) {
      const { sasl } = connection
      return sasl === undefined
        ? new XrcError('XRC_KAFKA_AUTH_FAILED', { reason: 'noCredentials', brokers, cause: e })
        : new XrcError('XRC_KAFKA_AUTH_FAILED', {
            brokers,
            mechanism: sasl.mechanism,
            username: sasl.username,
            cause: e,
          })
    }
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && Object.hasOwn(TLS_HINTS, code)) {
      const broker = (e as { broker?: unknown }).broker
      return new XrcError('XRC_KAFKA_TLS_FAILED', {
        broker: typeof broker === 'string' ? broker : brokers,
        tlsCode: code,
        hint: TLS_HINTS[code] as string,
        cause: e,
      })
    }
  }
  const kafkaError =
    authorizationErrorOf(err) ?? ([...causes(err)].some(isCoordinatorNotFound) ? context.logged : undefined)
  if (kafkaError === undefined) return undefined
  const principal = connection.sasl === undefined ? 'this client' : `User:${connection.sasl.username}`
  return new XrcError('XRC_KAFKA_NOT_AUTHORIZED', {
    principal,
    kafkaError,
    permission: context.permission ?? context.permissions?.[kafkaError] ?? (AUTHORIZATION_ERRORS[kafkaError] as string),
    cause: err,
  })
}

/** A refused SASL login: kafkajs's error, or a client error of the seam (lib/kafka/client) that says so. */
function isLoginRefused(e: Error): boolean {
  return e.name === 'KafkaJSSASLAuthenticationError' || (e as { authentication?: unknown }).authentication === true
}

function isCoordinatorNotFound(e: Error): boolean {
  return e.name === 'KafkaJSGroupCoordinatorNotFound'
}

/** kafkajs's messages of Kafka's authorization errors (src/protocol/error.js), for what it only logs. */
const AUTHORIZATION_MESSAGES: Readonly<Record<string, string>> = {
  'Not authorized to access topics: [Topic authorization failed]': 'TOPIC_AUTHORIZATION_FAILED',
  'Not authorized to access group: Group authorization failed': 'GROUP_AUTHORIZATION_FAILED',
  'Cluster authorization failed': 'CLUSTER_AUTHORIZATION_FAILED',
  'Transactional Id authorization failed': 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
}

/** The authorization error a kafkajs log line's `error` field reports, if it is one. */
export function authorizationErrorOfMessage(message: unknown): string | undefined {
  return typeof message === 'string' && Object.hasOwn(AUTHORIZATION_MESSAGES, message)
    ? AUTHORIZATION_MESSAGES[message]
    : undefined
}

const ACCESS_CODES: readonly string[] = ['XRC_KAFKA_AUTH_FAILED', 'XRC_KAFKA_TLS_FAILED', 'XRC_KAFKA_NOT_AUTHORIZED']

/** An XrcError that is itself one of the refusals (not one caused by a refusal). */
function isAccessCode(e: Error): boolean {
  return e instanceof XrcError && ACCESS_CODES.includes(e.code)
}

function* causes(err: unknown): Generator<Error> {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; depth++) {
    yield e
    e = e.cause ?? (e as { originalError?: unknown }).originalError
  }
}
