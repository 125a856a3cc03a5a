/**
 * Kafka connections: one kafkajs client per process, its log lines routed to
 * pino. kafkajs has no KIP-447 fencing; xrc uses explicit partition
 * assignment and transactional ids instead of consumer-group rebalancing on
 * the mirroring path.
 */
import { Kafka, logLevel, type Admin, type KafkaConfig, type LogEntry } from 'kafkajs'
import type { KafkaConnection } from '../config.js'
import { XrcError } from '../errors.js'
import type { Logger } from '../logger.js'
import { authorizationErrorOfMessage, kafkaAccessError } from './accessErrors.js'
import { checkTlsHandshake, kafkajsSecurity } from './clientSecurity.js'

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
}

export interface KafkaOptions {
  /** Brokers, TLS and SASL: config.kafka itself (its password is non-enumerable: never a spread copy). */
  connection: KafkaConnection
  clientId: string
  logger: Logger
  /** kafkajs log level; WARN by default (kafkajs is chatty at INFO). */
  level?: logLevel
  connectionTimeoutMs?: number
  requestTimeoutMs?: number
}

/** A kafkajs client of `connection` (TLS and SASL as configured) whose logs go to `logger` (component: kafkajs). */
export function createKafka(options: KafkaOptions): Kafka {
  const log = options.logger.child({ component: 'kafkajs' })
  const config: KafkaConfig = {
    clientId: options.clientId,
    brokers: [...options.connection.brokers],
    ...kafkajsSecurity(options.connection),
    connectionTimeout: options.connectionTimeoutMs ?? 3000,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    logLevel: options.level ?? logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry, namespace }: LogEntry) => {
        const {
          message,
          timestamp: _t,
          logger: _l,
          ...extra
        } = entry as { message: string; timestamp?: string; logger?: string }
        const refused = authorizationErrorOfMessage((extra as { error?: unknown }).error)
        if (refused !== undefined) seen.refusal = refused
        log[kafkajsLevel(level, message, extra)]({ namespace, ...extra }, message)
      },
  }
  const seen: { refusal?: string } = {}
  const kafka = new Kafka(config)
  REFUSALS.set(kafka, seen)
  return kafka
}

const REFUSALS = new WeakMap<Kafka, { refusal?: string }>()

/**
 * Answers a broker gives in the normal course, which kafkajs logs as errors at
 * each attempt and then retries by itself: CONCURRENT_TRANSACTIONS, which a
 * transaction coordinator answers to the next transaction's
 * AddPartitionsToTxn while it still writes the previous one's markers (six
 * in five seconds at about ten groups a second in a CI fault run's mover
 * log; the Java client retries AddPartitions quietly after 20 ms,
 * KAFKA-5477). Logged at debug: a call they finally fail still fails and is
 * logged by the stage, and the lines no longer fill a service log's warnings
 * (a failed fault run's digest showed nothing else of the mover).
 */
const RETRIED_QUIETLY = [/another concurrent operation on the same transaction was ongoing/i]

/** The pino level of one kafkajs log line: as kafkajs says, but debug for the answers above. */
export function kafkajsLevel(
  level: logLevel,
  message: string,
  entry: { error?: unknown },
): 'error' | 'warn' | 'info' | 'debug' {
  const texts = typeof entry.error === 'string' ? [message, entry.error] : [message]
  if (texts.some((t) => RETRIED_QUIETLY.some((r) => r.test(t)))) return 'debug'
  return LEVELS[level] ?? 'info'
}

/**
 * The authorization error (TRANSACTIONAL_ID_AUTHORIZATION_FAILED...) a
 * broker last answered this client, as kafkajs logged it: for the refusals
 * kafkajs does not pass on (a FindCoordinator refused becomes "Failed to
 * find group coordinator").
 */
export function lastRefusal(kafka: Kafka): string | undefined {
  return REFUSALS.get(kafka)?.refusal
}

/**
 * A connected admin client, or the reason there is none: XRC_KAFKA_UNREACHABLE
 * naming the brokers and the setting, how a service's start says that Kafka
 * is not there (kafkajs alone says only "Connection error: connect
 * ECONNREFUSED"), or the non-retriable XRC_KAFKA_AUTH_FAILED or
 * XRC_KAFKA_TLS_FAILED when it is there but refuses this client (a TLS
 * handshake is tried once first: kafkajs would retry a failed one for
 * seconds as if the broker were away).
 */
export async function connectAdmin(kafka: Kafka, connection: KafkaConnection): Promise<Admin> {
  const admin = kafka.admin()
  try {
    await checkTlsHandshake(connection)
    await admin.connect()
  } catch (err) {
    await admin.disconnect().catch(() => undefined) // nothing to close when connect failed
    throw (
      kafkaAccessError(err, connection) ??
      new XrcError('XRC_KAFKA_UNREACHABLE', { brokers: connection.brokers.join(','), cause: err })
    )
  }
  return admin
}
