/**
 * The NBD protocol's numbers, as the protocol document of the NBD project
 * (NetworkBlockDevice/nbd, doc/proto.md) defines them, kept as data tables
 * so that logs and tests can name every value. Only the fixed newstyle
 * handshake is spoken (oldstyle is obsolete); no TLS (NOTLS mode); simple
 * replies, and
 * structured replies when the client asks for them: a READ's data in one
 * OFFSET_DATA chunk, an error in an ERROR chunk with its message).
 *
 * All integers on the wire are big-endian.
 */
import { XrcError } from '../../lib/errors.js'

/** 'NBDMAGIC': the first 8 bytes the server sends. */
export const NBD_MAGIC = 0x4e42444d41474943n
/** 'IHAVEOPT': newstyle negotiation, and the magic of every option request. */
export const IHAVEOPT = 0x49484156454f5054n
/** Magic of an option reply. */
export const OPTION_REPLY_MAGIC = 0x3e889045565a9n
export const REQUEST_MAGIC = 0x25609513
export const SIMPLE_REPLY_MAGIC = 0x67446698
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef

/** Structured reply chunk types (negotiated with NBD_OPT_STRUCTURED_REPLY); errors have bit 15 set. */
export const CHUNK_TYPES = { NONE: 0, OFFSET_DATA: 1, OFFSET_HOLE: 2, ERROR: 0x8001, ERROR_OFFSET: 0x8002 } as const
/** Structured reply flags. */
export const CHUNK_FLAGS = { DONE: 1 << 0 } as const

/** Handshake flags (server, 16 bits). */
export const HANDSHAKE_FLAGS = { FIXED_NEWSTYLE: 1 << 0, NO_ZEROES: 1 << 1 } as const
/** Client flags (32 bits). */
export const CLIENT_FLAGS = { FIXED_NEWSTYLE: 1 << 0, NO_ZEROES: 1 << 1 } as const

/** Transmission flags (16 bits), sent with the export's size. */
export const TRANSMISSION_FLAGS = {
  HAS_FLAGS: 1 << 0,
  READ_ONLY: 1 << 1,
  SEND_FLUSH: 1 << 2,
  SEND_FUA: 1 << 3,
  ROTATIONAL: 1 << 4,
  SEND_TRIM: 1 << 5,
  SEND_WRITE_ZEROES: 1 << 6,
  SEND_DF: 1 << 7,
  CAN_MULTI_CONN: 1 << 8,
  SEND_RESIZE: 1 << 9,
  SEND_CACHE: 1 << 10,
  SEND_FAST_ZERO: 1 << 11,
} as const

/** Options a client sends during the handshake. */
export const OPTIONS = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  PEEK_EXPORT: 4,
  STARTTLS: 5,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
  LIST_META_CONTEXT: 9,
  SET_META_CONTEXT: 10,
  EXTENDED_HEADERS: 11,
} as const

/** Option reply types; errors have bit 31 set. */
export const REPLIES = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  META_CONTEXT: 4,
  ERR_UNSUP: 0x80000001,
  ERR_POLICY: 0x80000002,
  ERR_INVALID: 0x80000003,
  ERR_PLATFORM: 0x80000004,
  ERR_TLS_REQD: 0x80000005,
  ERR_UNKNOWN: 0x80000006,
  ERR_SHUTDOWN: 0x80000007,
  ERR_BLOCK_SIZE_REQD: 0x80000008,
  ERR_TOO_BIG: 0x80000009,
} as const

/** Information types of an NBD_REP_INFO reply (and of an INFO/GO request's list). */
export const INFOS = { EXPORT: 0, NAME: 1, DESCRIPTION: 2, BLOCK_SIZE: 3 } as const

/** Transmission commands. */
export const COMMANDS = {
  READ: 0,
  WRITE: 1,
  DISC: 2,
  FLUSH: 3,
  TRIM: 4,
  CACHE: 5,
  WRITE_ZEROES: 6,
  BLOCK_STATUS: 7,
  RESIZE: 8,
} as const

/** Command flags (16 bits). */
export const COMMAND_FLAGS = { FUA: 1 << 0, NO_HOLE: 1 << 1, DF: 1 << 2, REQ_ONE: 1 << 3, FAST_ZERO: 1 << 4 } as const

/** Error values of a reply. */
export const ERRORS = {
  EPERM: 1,
  EIO: 5,
  ENOMEM: 12,
  EINVAL: 22,
  ENOSPC: 28,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  ESHUTDOWN: 108,
} as const

export type NbdErrno = (typeof ERRORS)[keyof typeof ERRORS]

/** What a client is told once the server is shutting down: in an option's error reply, or a request's error. */
export const SHUTDOWN_MESSAGE = 'the server is shutting down'

/** Longest string the protocol allows (export names, messages), bytes. */
export const MAX_STRING_BYTES = 4096
/**
 * Longest option data this server reads. The options it understands carry at
 * most a name and a short list; a longer one is treated as a denial of
 * service (the protocol lets the server hard-disconnect then).
 */
export const MAX_OPTION_BYTES = 65536
/**
 * Largest payload of a request the server reads and discards after refusing
 * it: the protocol says a payload up to 2^25 bytes SHOULD NOT be taken for a
 * denial of service, so up to that the connection survives a refused write.
 */
export const MAX_DISCARD_BYTES = 1 << 25

/** Sizes of the fixed parts of the messages. */
export const SIZES = {
  GREETING: 18,
  CLIENT_FLAGS: 4,
  OPTION_HEADER: 16,
  OPTION_REPLY_HEADER: 20,
  REQUEST_HEADER: 28,
  SIMPLE_REPLY: 16,
  STRUCTURED_REPLY_HEADER: 20,
  EXPORT_NAME_REPLY: 10,
  EXPORT_NAME_ZEROES: 124,
} as const

/** The name of a value in one of the tables above (for logs), or its number. */
export function nameOf(table: Readonly<Record<string, number>>, value: number): string {
  for (const [name, v] of Object.entries(table)) if (v === value) return name
  return `0x${value.toString(16)}`
}

/** What a malformed message broke; stable, for logs and tests. */
export type NbdProtocolReason =
  | 'BAD_GREETING_MAGIC'
  | 'UNKNOWN_CLIENT_FLAGS'
  | 'BAD_OPTION_MAGIC'
  | 'OPTION_TOO_LONG'
  | 'MALFORMED_OPTION'
  | 'BAD_REPLY_MAGIC'
  | 'MALFORMED_REPLY'
  | 'BAD_REQUEST_MAGIC'
  | 'PAYLOAD_TOO_LARGE'
  | 'STRING_TOO_LONG'

/**
 * A message that breaks the NBD protocol. `reason` names what; the server
 * answers MALFORMED_OPTION with NBD_REP_ERR_INVALID and closes the
 * connection (with a log line) on every other reason, since the byte stream
 * cannot be framed any more.
 */
export class NbdProtocolError extends XrcError {
  readonly reason: NbdProtocolReason
  constructor(reason: NbdProtocolReason, message: string) {
    super('XRC_NBD_PROTOCOL', message, { context: { reason } })
    this.name = 'NbdProtocolError'
    this.reason = reason
  }
}
