/**
 * The error catalogue. Every error xrc-kafka raises on purpose is an
 * {@link XrcError} with a stable `code` (callers and tests branch on it, never
 * on message text), a `retriable` flag (only {@link retry} looks at it) and
 * optional context (session, controller, partition, offset, group time).
 *
 * Add a code here, never inline: `test` checks the catalogue against the
 * README's table.
 */
export const ERROR_CODES = {
  XRC_CONFIG_INVALID: { retriable: false, doc: 'A setting is missing, malformed or unknown.' },
  XRC_USAGE: { retriable: false, doc: 'A command was called with bad arguments.' },
  XRC_STACK_INSTALL_FAILED: { retriable: false, doc: 'Maven could not fetch the local stack jars.' },
  XRC_STACK_START_FAILED: { retriable: false, doc: 'A local stack service did not start or answer in time.' },
  XRC_STACK_PORT_BUSY: {
    retriable: false,
    doc: 'A port the local stack needs is taken by a process it did not start.',
  },
  XRC_POSTGRES_UNREACHABLE: { retriable: true, doc: 'PostgreSQL did not answer at DATABASE_URL.' },
  XRC_KAFKA_UNREACHABLE: { retriable: true, doc: 'No Kafka broker answered at KAFKA_BROKERS.' },
  XRC_REGISTRY_UNREACHABLE: { retriable: true, doc: 'The schema registry did not answer at SCHEMA_REGISTRY_URL.' },
  XRC_TIMEOUT: { retriable: true, doc: 'An operation did not finish within its bound.' },
  XRC_CLOSED: { retriable: false, doc: 'A component was used after close().' },
  XRC_SEQUENCE_GAP: { retriable: false, doc: "A controller's sequence numbers skip: a record set is missing." },
  XRC_TIME_REGRESSION: { retriable: false, doc: 'A controller reported a time earlier than its last.' },
  XRC_GROUP_OUT_OF_ORDER: { retriable: false, doc: 'A consistency group is not strictly after the last applied one.' },
  XRC_GROUP_INCOMPLETE: {
    retriable: false,
    doc: 'Journal records of a group are not its parts 0..parts-1 in a row (one missing, repeated or foreign); no part of it is applied.',
  },
  XRC_DECODE_FAILED: {
    retriable: false,
    doc: 'A record is not a valid record set (not Avro, unknown schema, bad magic byte).',
  },
  XRC_INVALID_RECORD: {
    retriable: false,
    doc: 'A record set names an unknown controller or volume, a block out of range, or a payload of partial blocks.',
  },
  XRC_RECORD_TOO_LARGE: { retriable: false, doc: 'A record set exceeds the configured maximum size.' },
  XRC_DUPLICATE_SEQUENCE: {
    retriable: false,
    doc: 'A record set repeats seqs a controller sent before, but with later times: not a re-send. It is dead-lettered and dropped; the session goes on.',
  },
  XRC_CONTROLLER_FROZEN: {
    retriable: false,
    doc: "A controller's stream is broken (a gap, a time regression, an invalid record carrying its next seqs): the mover froze it, so the consistency time stays at its last report, until `xrc session resume`.",
  },
  XRC_COMMIT_UNKNOWN: {
    retriable: true,
    doc: 'The connection failed during a PostgreSQL COMMIT: whether the group committed is read back from the control table before anything is retried.',
  },
  XRC_SESSION_HALTED: { retriable: false, doc: 'The session is halted; an operator action is needed to resume.' },
  XRC_SIDEFILE_FULL: { retriable: true, doc: "The controller's sidefile reached its bound." },
  XRC_SIDEFILE_CORRUPT: {
    retriable: false,
    doc: 'A sidefile entry before the tail fails its check (CRC, length, magic); the error names the file and offset.',
  },
  XRC_FENCED: { retriable: false, doc: 'Another instance took over this transactional id.' },
  XRC_JOURNAL_WRITE_FAILED: {
    retriable: true,
    doc: 'A group could not be journaled, or whether its transaction committed is unknown; the mover re-reads the journal tail before the next group.',
  },
  XRC_NOT_FOUND: { retriable: false, doc: 'A session, volume, snapshot or group does not exist.' },
  XRC_PRIMARY_UNREACHABLE: {
    retriable: true,
    doc: "No primary answers at its HTTP API (producer.apiPort, or the command's --primary URL): start `xrc primary`.",
  },
  XRC_ROLLED_BACK: {
    retriable: false,
    doc: 'The secondary was rolled back to its last consistent image (`xrc rollback`); the applier applies nothing more until the mirror is re-established (`xrc resync`).',
  },
  XRC_NBD_PROTOCOL: {
    retriable: false,
    doc: 'An NBD client broke the protocol (bad magic, unknown client flags, a malformed or oversized option or request); the reason is logged and the connection closed.',
  },
  XRC_SERVICE_RUNNING: {
    retriable: false,
    doc: 'An operator action needs a service stopped first (`xrc resync` and `xrc rollback` need the mover and the applier stopped); the error names it.',
  },
} as const

export type ErrorCode = keyof typeof ERROR_CODES

/** Context carried by an error; printed by the CLI, logged as fields. */
export interface ErrorContext {
  session?: string
  controller?: number
  volume?: string
  partition?: number
  offset?: string
  groupTime?: bigint | string
  setting?: string
  [key: string]: unknown
}

/** Base class of every error raised on purpose. */
export class XrcError extends Error {
  readonly code: ErrorCode
  readonly retriable: boolean
  readonly context: ErrorContext

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; context?: ErrorContext; retriable?: boolean } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'XrcError'
    this.code = code
    this.retriable = options.retriable ?? ERROR_CODES[code].retriable
    this.context = options.context ?? {}
  }
}

/** One setting that failed validation. */
export interface ConfigIssue {
  setting: string
  message: string
}

/** All config violations at once, each naming its setting. */
export class ConfigError extends XrcError {
  readonly issues: readonly ConfigIssue[]
  constructor(issues: ConfigIssue[]) {
    super(
      'XRC_CONFIG_INVALID',
      `invalid configuration:\n${issues.map((i) => `  - ${i.setting}: ${i.message}`).join('\n')}`,
    )
    this.name = 'ConfigError'
    this.issues = issues
  }
}

/** True when `err` is an XrcError with the given code. */
export function isXrcError(err: unknown, code?: ErrorCode): err is XrcError {
  return err instanceof XrcError && (code === undefined || err.code === code)
}

/** Message of any thrown value, for logs and CLI output. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
