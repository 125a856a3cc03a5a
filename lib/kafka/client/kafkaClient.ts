/**
 * The project's Kafka client (`KafkaClient`): one per process and purpose,
 * its connection, the library it runs on (`kafka.client`) and its logs routed
 * to pino. Stages hold one and ask the seam for admin calls, producers and
 * readers of it. On kafkajs a client is made on first use; kafkajs has no
 * KIP-447 fencing, so xrc uses explicit partition assignment and
 * transactional ids instead of consumer-group rebalancing.
 */
import { Kafka, logLevel, type KafkaConfig, type LogEntry } from 'kafkajs'
import type { KafkaConnection } from '../../config.js'
import { XrcError } from '../../errors.js'
import type { Logger } from '../../logger.js'
import { authorizationErrorOfMessage, kafkaAccessError } from '../accessErrors.js'
import type { KafkaAdmin } from './adminTypes.js'
import { checkTlsHandshake, kafkajsSecurity } from './clientSecurity.js'
import { kafkajsAdmin } from './kafkajsAdmin.js'
import { platformaticAdmin } from './platformaticAdmin.js'
import type { KafkaClientName } from './types.js'

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
}

export interface KafkaClientOptions {
  /** Brokers, TLS and SASL: config.kafka itself (its password is non-enumerable: never a spread copy). */
  connection: KafkaConnection
  clientId: string
  logger: Logger
  /** The library that produces, reads and administers (kafka.client); kafkajs when not given. */
  library?: KafkaClientName
  /** The library's own log lines: warnings and errors (the default; kafkajs is chatty at info), or none (tools). */
  logs?: 'warn' | 'none'
  connectionTimeoutMs?: number
  requestTimeoutMs?: number
  /** Tries of one request inside kafkajs before a call fails (its default when not given). */
  retries?: number
  /** The kafkajs client to run on, when the caller made it (tests: stand-ins, clients whose sockets fail on cue). */
  kafkajs?: Kafka
}

/** A Kafka client of the project: what a stage holds and hands the seam's functions. */
export interface KafkaClient {
  readonly library: KafkaClientName
  readonly connection: KafkaConnection
  readonly clientId: string
  readonly logger: Logger
  /**
   * An admin client, not connected yet (connect(), then calls, then disconnect()); `retries`: tries of one request
   * inside the library before a call fails (its default when not given).
   */
  admin(options?: { retries?: number }): KafkaAdmin
  /**
   * The authorization error (TRANSACTIONAL_ID_AUTHORIZATION_FAILED...) a broker last answered this client, as
   * kafkajs logged it: for the refusals kafkajs does not pass on (a FindCoordinator refused becomes "Failed to find
   * group coordinator").
   */
  lastRefusal(): string | undefined
}

/** A client of `options.connection` (TLS and SASL as configured) on `options.library`. */
export function createKafkaClient(options: KafkaClientOptions): KafkaClient {
  return new Client(options)
}

class Client implements KafkaClient {
  readonly library: KafkaClientName
  readonly connection: KafkaConnection
  readonly clientId: string
  readonly logger: Logger
  readonly #options: KafkaClientOptions
  readonly #seen: { refusal?: string } = {}
  #kafkajs: Kafka | undefined

  constructor(options: KafkaClientOptions) {
    this.library = options.library ?? 'kafkajs'
    this.connection = options.connection
    this.clientId = options.clientId
    this.logger = options.logger
    this.#options = options
    this.#kafkajs = options.kafkajs
  }

  /** The kafkajs client under this one, made on first use. */
  kafkajs(): Kafka {
    this.#kafkajs ??= createKafkajs(this.#options, this.#seen)
    return this.#kafkajs
  }

  admin(options: { retries?: number } = {}): KafkaAdmin {
    if (this.library === 'platformatic') {
      const { connection, clientId, logger } = this
      return platformaticAdmin({ connection, clientId, logger, ...options })
    }
    return kafkajsAdmin(this.kafkajs(), options)
  }

  lastRefusal(): string | undefined {
    return this.#seen.refusal
  }
}

/** The kafkajs client under `client` (the seam's kafkajs implementations use it; nothing else should). */
export function kafkajsOf(client: KafkaClient): Kafka {
  if (!(client instanceof Client)) throw new TypeError('not a client made by createKafkaClient')
  return client.kafkajs()
}

/** A kafkajs client whose logs go to the logger (component: kafkajs). */
function createKafkajs(options: KafkaClientOptions, seen: { refusal?: string }): Kafka {
  const log = options.logger.child({ component: 'kafkajs' })
  const config: KafkaConfig = {
    clientId: options.clientId,
    brokers: [...options.connection.brokers],
    ...kafkajsSecurity(options.connection),
    connectionTimeout: options.connectionTimeoutMs ?? 3000,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    logLevel: options.logs === 'none' ? logLevel.NOTHING : logLevel.WARN,
    ...(options.retries === undefined ? {} : { retry: { retries: options.retries } }),
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
  return new Kafka(config)
}

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
 * A connected admin client, or the reason there is none: XRC_KAFKA_UNREACHABLE
 * naming the brokers and the setting, how a service's start says that Kafka
 * is not there (kafkajs alone says only "Connection error: connect
 * ECONNREFUSED"), or the non-retriable XRC_KAFKA_AUTH_FAILED or
 * XRC_KAFKA_TLS_FAILED when it is there but refuses this client (a TLS
 * handshake is tried once first: kafkajs would retry a failed one for
 * seconds as if the broker were away).
 */
export async function connectAdmin(kafka: KafkaClient): Promise<KafkaAdmin> {
  const { connection } = kafka
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
