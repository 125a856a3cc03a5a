/**
 * Kafka Connect's dead-letter headers (`__connect.errors.*`, as Apache
 * Kafka's DeadLetterQueueReporter writes them), beside xrc's own
 * `xrc.dlq.*`, so tooling made for Connect's dead-letter queues (kcat
 * recipes, Connect UIs, DLQ replayers) reads a dead-lettered record's source
 * and reason without knowing xrc. Pure: the values are strings, as Connect
 * writes them.
 *
 *   __connect.errors.topic, .partition, .offset   where the record was read
 *   __connect.errors.connector.name               xrc-mover-<session>
 *   __connect.errors.task.id                      0 (one mover per session)
 *   __connect.errors.stage                        VALUE_CONVERTER for a record that does not decode,
 *                                                 TASK_PUT for one that decodes but breaks the session's rules
 *   __connect.errors.class.name                   the xrc component that refused it
 *   __connect.errors.exception.class.name         XrcError[<code>]
 *   __connect.errors.exception.message            the message, as in xrc.dlq.error-message
 */
import type { ErrorCode } from '../../lib/errors.js'

export const CONNECT_HEADER_PREFIX = '__connect.errors.'

/** Connect's header names (org.apache.kafka.connect.runtime.errors.DeadLetterQueueReporter). */
export const CONNECT_HEADERS = {
  topic: `${CONNECT_HEADER_PREFIX}topic`,
  partition: `${CONNECT_HEADER_PREFIX}partition`,
  offset: `${CONNECT_HEADER_PREFIX}offset`,
  connectorName: `${CONNECT_HEADER_PREFIX}connector.name`,
  taskId: `${CONNECT_HEADER_PREFIX}task.id`,
  stage: `${CONNECT_HEADER_PREFIX}stage`,
  executingClass: `${CONNECT_HEADER_PREFIX}class.name`,
  exceptionClass: `${CONNECT_HEADER_PREFIX}exception.class.name`,
  exceptionMessage: `${CONNECT_HEADER_PREFIX}exception.message`,
} as const

/** What the headers describe: a record of `topic` the mover of `session` refused with `code`. */
export interface ConnectErrorSource {
  session: string
  topic: string
  partition: number
  offset: number
  code: ErrorCode
  message: string
}

/** The stage a refusal happened at, in Connect's terms (its Stage enum). */
export function connectStage(code: ErrorCode): 'VALUE_CONVERTER' | 'TASK_PUT' {
  return code === 'XRC_DECODE_FAILED' || code === 'XRC_RECORD_TOO_LARGE' ? 'VALUE_CONVERTER' : 'TASK_PUT'
}

/** Connect's dead-letter headers for one refused record (string values, as Connect writes them). */
export function connectErrorHeaders(source: ConnectErrorSource): Record<string, string> {
  return {
    [CONNECT_HEADERS.topic]: source.topic,
    [CONNECT_HEADERS.partition]: String(source.partition),
    [CONNECT_HEADERS.offset]: String(source.offset),
    [CONNECT_HEADERS.connectorName]: `xrc-mover-${source.session}`,
    [CONNECT_HEADERS.taskId]: '0',
    [CONNECT_HEADERS.stage]: connectStage(source.code),
    [CONNECT_HEADERS.executingClass]: 'xrc.mover.intake',
    [CONNECT_HEADERS.exceptionClass]: `XrcError[${source.code}]`,
    [CONNECT_HEADERS.exceptionMessage]: source.message,
  }
}
