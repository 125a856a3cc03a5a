/**
 * A Kafka client library's failure in the terms the stages branch on, the
 * same whichever library failed: `retriable` (sending again may succeed),
 * `type` (Kafka's error name, such as TOPIC_AUTHORIZATION_FAILED, as kafkajs
 * names it) and, for a refused SASL login, `authentication`. lib/kafka's
 * accessErrors.ts and the stages' outage rules read only these. Pure.
 *
 * @platformatic/kafka fails with a GenericError (`code` PLT_KFK_*); a
 * ProtocolError carries the broker's answer as `apiId` and its `canRetry`;
 * a call retried in vain, or a request to several brokers, fails with a
 * MultipleErrors whose `errors` hold each attempt's.
 */

/** The project's view of one client failure. */
export interface ClientFailure {
  retriable: boolean
  /** Kafka's error name when a broker answered one (the first non-retriable, else the last). */
  type?: string
  /** A SASL login the broker refused. */
  authentication: boolean
}

/** @platformatic/kafka's codes of failures that waiting does not mend. */
const NOT_RETRIABLE_CODES = new Set([
  'PLT_KFK_AUTHENTICATION',
  'PLT_KFK_USER',
  'PLT_KFK_UNSUPPORTED',
  'PLT_KFK_UNSUPPORTED_API',
  'PLT_KFK_UNSUPPORTED_COMPRESSION',
  'PLT_KFK_UNSUPPORTED_FORMAT',
  'PLT_KFK_OUT_OF_BOUNDS',
])

interface Node {
  code?: unknown
  apiId?: unknown
  canRetry?: unknown
  errors?: unknown
  cause?: unknown
}

/** Every error of `err`'s tree: itself, its `errors` (an aggregate's) and its causes, depth first, bounded. */
function* tree(err: unknown, depth = 0): Generator<Node> {
  if (depth > 8 || typeof err !== 'object' || err === null) return
  const node = err as Node
  yield node
  if (Array.isArray(node.errors)) for (const e of node.errors) yield* tree(e, depth + 1)
  if (node.cause !== undefined) yield* tree(node.cause, depth + 1)
}

/**
 * What a failure of @platformatic/kafka means. Not retriable when any error
 * of its tree is a broker's answer that cannot be retried (an authorization
 * failure, a fenced producer, an out-of-order sequence) or a failure of the
 * client's use (authentication, an unsupported request); retriable otherwise,
 * network failures and timeouts included.
 */
export function platformaticFailure(err: unknown): ClientFailure {
  let retriable = true
  let authentication = false
  let type: string | undefined
  let fatalType: string | undefined
  for (const e of tree(err)) {
    const code = typeof e.code === 'string' ? e.code : undefined
    if (code === 'PLT_KFK_AUTHENTICATION') authentication = true
    if (code !== undefined && NOT_RETRIABLE_CODES.has(code)) retriable = false
    if (typeof e.apiId === 'string') {
      type = e.apiId
      if (e.canRetry === false) {
        retriable = false
        fatalType ??= e.apiId
      }
    }
  }
  return { retriable, authentication, ...((fatalType ?? type) ? { type: fatalType ?? type } : {}) }
}

/**
 * A client library's failure as thrown to the stages: its message, the
 * original as `cause`, and the fields of {@link ClientFailure}.
 */
export class KafkaClientError extends Error {
  readonly retriable: boolean
  readonly type: string | undefined
  readonly authentication: boolean

  constructor(message: string, failure: ClientFailure, cause: unknown) {
    super(message, { cause })
    this.name = 'KafkaClientError'
    this.retriable = failure.retriable
    this.type = failure.type
    this.authentication = failure.authentication
  }
}

/** `err` of @platformatic/kafka as a {@link KafkaClientError} (its message with the deepest cause's). */
export function fromPlatformatic(err: unknown): KafkaClientError {
  if (err instanceof KafkaClientError) return err
  return new KafkaClientError(platformaticMessage(err), platformaticFailure(err), err)
}

/** One line: the error's message, then its first attempt's and the deepest cause's when they add something. */
export function platformaticMessage(err: unknown): string {
  const parts: string[] = []
  for (const e of tree(err)) {
    const message = (e as { message?: unknown }).message
    if (typeof message === 'string' && message !== '' && !parts.includes(message)) parts.push(message)
    if (parts.length === 3) break
  }
  return parts.length === 0 ? String(err) : parts.join(': ')
}
