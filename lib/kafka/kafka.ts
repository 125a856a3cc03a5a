/**
 * Kafka connections: one kafkajs client per process, its log lines routed to
 * pino. kafkajs has no KIP-447 fencing; xrc uses explicit partition
 * assignment and transactional ids instead of consumer-group rebalancing on
 * the mirroring path.
 */
import { Kafka, logLevel, type Admin, type KafkaConfig, type LogEntry } from 'kafkajs'
import { XrcError } from '../errors.js'
import type { Logger } from '../logger.js'

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
}

export interface KafkaOptions {
  brokers: readonly string[]
  clientId: string
  logger: Logger
  /** kafkajs log level; WARN by default (kafkajs is chatty at INFO). */
  level?: logLevel
  connectionTimeoutMs?: number
  requestTimeoutMs?: number
}

/** A kafkajs client whose logs go to `logger` (component: kafkajs). */
export function createKafka(options: KafkaOptions): Kafka {
  const log = options.logger.child({ component: 'kafkajs' })
  const config: KafkaConfig = {
    clientId: options.clientId,
    brokers: [...options.brokers],
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
        log[LEVELS[level] ?? 'info']({ namespace, ...extra }, message)
      },
  }
  return new Kafka(config)
}

/**
 * A connected admin client, or XRC_KAFKA_UNREACHABLE naming the brokers
 * and the setting: how a service's start says that Kafka is not there
 * (kafkajs alone says only "Connection error: connect ECONNREFUSED").
 */
export async function connectAdmin(kafka: Kafka, brokers: readonly string[]): Promise<Admin> {
  const admin = kafka.admin()
  try {
    await admin.connect()
  } catch (err) {
    await admin.disconnect().catch(() => undefined) // nothing to close when connect failed
    throw new XrcError('XRC_KAFKA_UNREACHABLE', { brokers: brokers.join(','), cause: err })
  }
  return admin
}
