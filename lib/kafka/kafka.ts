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
        log[LEVELS[level] ?? 'info']({ namespace, ...extra }, message)
      },
  }
  const seen: { refusal?: string } = {}
  const kafka = new Kafka(config)
  REFUSALS.set(kafka, seen)
  return kafka
}

const REFUSALS = new WeakMap<Kafka, { refusal?: string }>()

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
