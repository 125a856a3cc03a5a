/**
 * The NBD wire format, both directions, as pure functions over Buffers (no
 * I/O), so it is tested exhaustively and the server and the test clients
 * share it. Layouts (big-endian; see protocol.ts for the values):
 *
 *   greeting (S)         u64 NBDMAGIC, u64 IHAVEOPT, u16 handshake flags
 *   client flags (C)     u32 flags
 *   option (C)           u64 IHAVEOPT, u32 option, u32 length, data[length]
 *   option reply (S)     u64 0x3e889045565a9, u32 option, u32 type, u32 length, data[length]
 *     INFO/GO data       u32 name length n, name[n], u16 count k, u16 info[k]
 *     REP_SERVER data    u32 name length n, name[n], description (the rest)
 *     REP_INFO data      u16 type, then EXPORT: u64 size, u16 transmission flags
 *                                         BLOCK_SIZE: u32 minimum, u32 preferred, u32 maximum payload
 *                                         NAME, DESCRIPTION: a string (the rest)
 *   EXPORT_NAME reply(S) u64 size, u16 transmission flags, 124 zero bytes unless NO_ZEROES
 *   request (C)          u32 0x25609513, u16 flags, u16 type, u64 cookie, u64 offset, u32 length,
 *                        data[length] for WRITE only
 *   simple reply (S)     u32 0x67446698, u32 error, u64 cookie, data[length] for a successful READ
 *   structured chunk (S) u32 0x668e33ef, u16 flags, u16 type, u64 cookie, u32 length, payload[length]
 *     OFFSET_DATA        u64 offset, data (length - 8 bytes)
 *     ERROR              u32 error, u16 message length m, message[m]
 *
 * Decoders of streamed messages return undefined while `buf` holds too few
 * bytes, and throw {@link NbdProtocolError} naming what is wrong otherwise.
 */
import {
  CLIENT_FLAGS,
  IHAVEOPT,
  INFOS,
  MAX_OPTION_BYTES,
  MAX_STRING_BYTES,
  NBD_MAGIC,
  NbdProtocolError,
  OPTION_REPLY_MAGIC,
  REQUEST_MAGIC,
  SIMPLE_REPLY_MAGIC,
  SIZES,
  STRUCTURED_REPLY_MAGIC,
  CHUNK_TYPES,
  CHUNK_FLAGS,
} from './protocol.js'

export interface OptionHeader {
  option: number
  length: number
}

export interface OptionReplyHeader {
  option: number
  type: number
  length: number
}

export interface RequestHeader {
  flags: number
  type: number
  /** Opaque to the server: echoed in the reply. */
  cookie: bigint
  offset: bigint
  length: number
}

export type InfoReply =
  | { type: typeof INFOS.EXPORT; size: bigint; flags: number }
  | { type: typeof INFOS.BLOCK_SIZE; minimum: number; preferred: number; maximum: number }
  | { type: typeof INFOS.NAME | typeof INFOS.DESCRIPTION; text: string }
  | { type: number; raw: Buffer }

function stringBytes(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8')
  if (bytes.length > MAX_STRING_BYTES)
    throw new NbdProtocolError('STRING_TOO_LONG', `a string of ${bytes.length} bytes exceeds ${MAX_STRING_BYTES}`)
  return bytes
}

// handshake, server side -------------------------------------------------------------------------

export function encodeGreeting(handshakeFlags: number): Buffer {
  const buf = Buffer.allocUnsafe(SIZES.GREETING)
  buf.writeBigUInt64BE(NBD_MAGIC, 0)
  buf.writeBigUInt64BE(IHAVEOPT, 8)
  buf.writeUInt16BE(handshakeFlags, 16)
  return buf
}

export function decodeGreeting(buf: Buffer): { handshakeFlags: number } | undefined {
  if (buf.length < SIZES.GREETING) return undefined
  if (buf.readBigUInt64BE(0) !== NBD_MAGIC || buf.readBigUInt64BE(8) !== IHAVEOPT)
    throw new NbdProtocolError('BAD_GREETING_MAGIC', 'the greeting is not NBDMAGIC IHAVEOPT (not a newstyle server)')
  return { handshakeFlags: buf.readUInt16BE(16) }
}

export function encodeClientFlags(flags: number): Buffer {
  const buf = Buffer.allocUnsafe(SIZES.CLIENT_FLAGS)
  buf.writeUInt32BE(flags >>> 0, 0)
  return buf
}

/**
 * The client's flags. The protocol says the server MUST drop the connection
 * when the client sets a flag it does not know or one the server did not
 * offer: UNKNOWN_CLIENT_FLAGS.
 */
export function decodeClientFlags(buf: Buffer, handshakeFlags: number): { flags: number } | undefined {
  if (buf.length < SIZES.CLIENT_FLAGS) return undefined
  const flags = buf.readUInt32BE(0)
  const known = CLIENT_FLAGS.FIXED_NEWSTYLE | (handshakeFlags & CLIENT_FLAGS.NO_ZEROES)
  if ((flags & ~known) !== 0)
    throw new NbdProtocolError(
      'UNKNOWN_CLIENT_FLAGS',
      `client flags 0x${flags.toString(16)} set bits the server did not offer (0x${known.toString(16)})`,
    )
  return { flags }
}

// options ----------------------------------------------------------------------------------------

export function encodeOption(option: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const buf = Buffer.allocUnsafe(SIZES.OPTION_HEADER + data.length)
  buf.writeBigUInt64BE(IHAVEOPT, 0)
  buf.writeUInt32BE(option >>> 0, 8)
  buf.writeUInt32BE(data.length, 12)
  data.copy(buf, SIZES.OPTION_HEADER)
  return buf
}

/** An option's header; OPTION_TOO_LONG past MAX_OPTION_BYTES of data. */
export function decodeOptionHeader(buf: Buffer): OptionHeader | undefined {
  if (buf.length < SIZES.OPTION_HEADER) return undefined
  if (buf.readBigUInt64BE(0) !== IHAVEOPT)
    throw new NbdProtocolError(
      'BAD_OPTION_MAGIC',
      `an option must start with IHAVEOPT, got 0x${buf.readBigUInt64BE(0).toString(16)}`,
    )
  const option = buf.readUInt32BE(8)
  const length = buf.readUInt32BE(12)
  if (length > MAX_OPTION_BYTES)
    throw new NbdProtocolError(
      'OPTION_TOO_LONG',
      `option ${option} carries ${length} bytes of data, more than the ${MAX_OPTION_BYTES} this server reads`,
    )
  return { option, length }
}

/** Data of an NBD_OPT_INFO or NBD_OPT_GO request. */
export function encodeInfoRequest(name: string, infos: readonly number[]): Buffer {
  const n = stringBytes(name)
  const buf = Buffer.allocUnsafe(4 + n.length + 2 + 2 * infos.length)
  buf.writeUInt32BE(n.length, 0)
  n.copy(buf, 4)
  buf.writeUInt16BE(infos.length, 4 + n.length)
  infos.forEach((info, i) => buf.writeUInt16BE(info, 6 + n.length + 2 * i))
  return buf
}

/** Parses INFO/GO data; MALFORMED_OPTION when the lengths disagree with the option's length. */
export function decodeInfoRequest(data: Buffer): { name: string; infos: number[] } {
  if (data.length < 6)
    throw new NbdProtocolError('MALFORMED_OPTION', `INFO/GO data of ${data.length} bytes is shorter than 6`)
  const n = data.readUInt32BE(0)
  if (n > data.length - 6)
    throw new NbdProtocolError(
      'MALFORMED_OPTION',
      `INFO/GO names an export of ${n} bytes in ${data.length} bytes of data`,
    )
  if (n > MAX_STRING_BYTES)
    throw new NbdProtocolError('STRING_TOO_LONG', `an export name of ${n} bytes exceeds ${MAX_STRING_BYTES}`)
  const count = data.readUInt16BE(4 + n)
  if (data.length !== 6 + n + 2 * count)
    throw new NbdProtocolError(
      'MALFORMED_OPTION',
      `INFO/GO lists ${count} information requests, which needs ${6 + n + 2 * count} bytes of data, not ${data.length}`,
    )
  const infos = Array.from({ length: count }, (_, i) => data.readUInt16BE(6 + n + 2 * i))
  return { name: data.toString('utf8', 4, 4 + n), infos }
}

export function encodeOptionReply(option: number, type: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const buf = Buffer.allocUnsafe(SIZES.OPTION_REPLY_HEADER + data.length)
  buf.writeBigUInt64BE(OPTION_REPLY_MAGIC, 0)
  buf.writeUInt32BE(option >>> 0, 8)
  buf.writeUInt32BE(type >>> 0, 12)
  buf.writeUInt32BE(data.length, 16)
  data.copy(buf, SIZES.OPTION_REPLY_HEADER)
  return buf
}

/** An option reply's header (client side). */
export function decodeOptionReplyHeader(buf: Buffer): OptionReplyHeader | undefined {
  if (buf.length < SIZES.OPTION_REPLY_HEADER) return undefined
  if (buf.readBigUInt64BE(0) !== OPTION_REPLY_MAGIC)
    throw new NbdProtocolError('BAD_REPLY_MAGIC', 'an option reply must start with 0x3e889045565a9')
  return { option: buf.readUInt32BE(8), type: buf.readUInt32BE(12), length: buf.readUInt32BE(16) }
}

/** An error reply: its type, and a message for the human reading the client's output. */
export function encodeOptionError(option: number, type: number, message: string): Buffer {
  return encodeOptionReply(option, type, Buffer.from(message.slice(0, 1024), 'utf8'))
}

export function encodeServerReplyData(name: string, description = ''): Buffer {
  const n = stringBytes(name)
  const d = stringBytes(description)
  const buf = Buffer.allocUnsafe(4 + n.length + d.length)
  buf.writeUInt32BE(n.length, 0)
  n.copy(buf, 4)
  d.copy(buf, 4 + n.length)
  return buf
}

export function decodeServerReplyData(data: Buffer): { name: string; description: string } {
  if (data.length < 4 || data.readUInt32BE(0) > data.length - 4)
    throw new NbdProtocolError('MALFORMED_REPLY', `an NBD_REP_SERVER of ${data.length} bytes does not hold its name`)
  const n = data.readUInt32BE(0)
  return { name: data.toString('utf8', 4, 4 + n), description: data.toString('utf8', 4 + n) }
}

export function encodeInfoExport(size: bigint, flags: number): Buffer {
  const buf = Buffer.allocUnsafe(12)
  buf.writeUInt16BE(INFOS.EXPORT, 0)
  buf.writeBigUInt64BE(size, 2)
  buf.writeUInt16BE(flags, 10)
  return buf
}

export function encodeInfoBlockSize(minimum: number, preferred: number, maximum: number): Buffer {
  const buf = Buffer.allocUnsafe(14)
  buf.writeUInt16BE(INFOS.BLOCK_SIZE, 0)
  buf.writeUInt32BE(minimum, 2)
  buf.writeUInt32BE(preferred, 6)
  buf.writeUInt32BE(maximum, 10)
  return buf
}

export function encodeInfoText(type: typeof INFOS.NAME | typeof INFOS.DESCRIPTION, text: string): Buffer {
  const t = stringBytes(text)
  const buf = Buffer.allocUnsafe(2 + t.length)
  buf.writeUInt16BE(type, 0)
  t.copy(buf, 2)
  return buf
}

/** An NBD_REP_INFO's data; MALFORMED_REPLY when a known type has the wrong length. */
export function decodeInfo(data: Buffer): InfoReply {
  if (data.length < 2) throw new NbdProtocolError('MALFORMED_REPLY', 'an NBD_REP_INFO shorter than its type')
  const type = data.readUInt16BE(0)
  const need = type === INFOS.EXPORT ? 12 : type === INFOS.BLOCK_SIZE ? 14 : undefined
  if (need !== undefined && data.length !== need)
    throw new NbdProtocolError('MALFORMED_REPLY', `information type ${type} must be ${need} bytes, got ${data.length}`)
  if (type === INFOS.EXPORT) return { type, size: data.readBigUInt64BE(2), flags: data.readUInt16BE(10) }
  if (type === INFOS.BLOCK_SIZE)
    return { type, minimum: data.readUInt32BE(2), preferred: data.readUInt32BE(6), maximum: data.readUInt32BE(10) }
  if (type === INFOS.NAME || type === INFOS.DESCRIPTION) return { type, text: data.toString('utf8', 2) }
  return { type, raw: data.subarray(2) }
}

/** The reply to NBD_OPT_EXPORT_NAME (it has no option reply header). */
export function encodeExportNameReply(size: bigint, flags: number, noZeroes: boolean): Buffer {
  const buf = Buffer.alloc(SIZES.EXPORT_NAME_REPLY + (noZeroes ? 0 : SIZES.EXPORT_NAME_ZEROES))
  buf.writeBigUInt64BE(size, 0)
  buf.writeUInt16BE(flags, 8)
  return buf
}

// transmission -----------------------------------------------------------------------------------

export function encodeRequest(header: RequestHeader, payload?: Buffer): Buffer {
  const buf = Buffer.allocUnsafe(SIZES.REQUEST_HEADER + (payload?.length ?? 0))
  buf.writeUInt32BE(REQUEST_MAGIC, 0)
  buf.writeUInt16BE(header.flags, 4)
  buf.writeUInt16BE(header.type, 6)
  buf.writeBigUInt64BE(header.cookie, 8)
  buf.writeBigUInt64BE(header.offset, 16)
  buf.writeUInt32BE(header.length, 24)
  payload?.copy(buf, SIZES.REQUEST_HEADER)
  return buf
}

/** A request's header (the payload of a WRITE follows it); BAD_REQUEST_MAGIC otherwise. */
export function decodeRequestHeader(buf: Buffer): RequestHeader | undefined {
  if (buf.length < SIZES.REQUEST_HEADER) return undefined
  const magic = buf.readUInt32BE(0)
  if (magic !== REQUEST_MAGIC)
    throw new NbdProtocolError(
      'BAD_REQUEST_MAGIC',
      `a request must start with 0x25609513, got 0x${magic.toString(16)} (extended headers are not negotiated)`,
    )
  return {
    flags: buf.readUInt16BE(4),
    type: buf.readUInt16BE(6),
    cookie: buf.readBigUInt64BE(8),
    offset: buf.readBigUInt64BE(16),
    length: buf.readUInt32BE(24),
  }
}

export function encodeSimpleReply(error: number, cookie: bigint): Buffer {
  const buf = Buffer.allocUnsafe(SIZES.SIMPLE_REPLY)
  buf.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0)
  buf.writeUInt32BE(error >>> 0, 4)
  buf.writeBigUInt64BE(cookie, 8)
  return buf
}

/** A simple reply's header (client side; a successful READ's data follows it). */
export function decodeSimpleReply(buf: Buffer): { error: number; cookie: bigint } | undefined {
  if (buf.length < SIZES.SIMPLE_REPLY) return undefined
  if (buf.readUInt32BE(0) !== SIMPLE_REPLY_MAGIC)
    throw new NbdProtocolError('BAD_REPLY_MAGIC', `a simple reply must start with 0x67446698`)
  return { error: buf.readUInt32BE(4), cookie: buf.readBigUInt64BE(8) }
}

export interface ChunkHeader {
  flags: number
  type: number
  cookie: bigint
  length: number
}

/** A structured reply chunk's header; `payloadLength` bytes of payload follow it. */
export function encodeChunkHeader(flags: number, type: number, cookie: bigint, payloadLength: number): Buffer {
  const buf = Buffer.allocUnsafe(SIZES.STRUCTURED_REPLY_HEADER)
  buf.writeUInt32BE(STRUCTURED_REPLY_MAGIC, 0)
  buf.writeUInt16BE(flags, 4)
  buf.writeUInt16BE(type, 6)
  buf.writeBigUInt64BE(cookie, 8)
  buf.writeUInt32BE(payloadLength, 16)
  return buf
}

/** The header and offset of the one OFFSET_DATA chunk (flagged DONE) of a READ; the data follows. */
export function encodeReadChunk(cookie: bigint, offset: bigint, dataLength: number): Buffer {
  const header = encodeChunkHeader(CHUNK_FLAGS.DONE, CHUNK_TYPES.OFFSET_DATA, cookie, 8 + dataLength)
  const buf = Buffer.allocUnsafe(header.length + 8)
  header.copy(buf)
  buf.writeBigUInt64BE(offset, header.length)
  return buf
}

/** The final chunk of a successful reply without data. */
export function encodeDoneChunk(cookie: bigint): Buffer {
  return encodeChunkHeader(CHUNK_FLAGS.DONE, CHUNK_TYPES.NONE, cookie, 0)
}

/** An ERROR chunk (flagged DONE) carrying a message for the human at the client. */
export function encodeErrorChunk(cookie: bigint, error: number, message: string): Buffer {
  const text = Buffer.from(message, 'utf8').subarray(0, 1024)
  const header = encodeChunkHeader(CHUNK_FLAGS.DONE, CHUNK_TYPES.ERROR, cookie, 6 + text.length)
  const buf = Buffer.allocUnsafe(header.length + 6 + text.length)
  header.copy(buf)
  buf.writeUInt32BE(error >>> 0, header.length)
  buf.writeUInt16BE(text.length, header.length + 4)
  text.copy(buf, header.length + 6)
  return buf
}

/** A structured chunk's header (client side). */
export function decodeChunkHeader(buf: Buffer): ChunkHeader | undefined {
  if (buf.length < SIZES.STRUCTURED_REPLY_HEADER) return undefined
  if (buf.readUInt32BE(0) !== STRUCTURED_REPLY_MAGIC)
    throw new NbdProtocolError('BAD_REPLY_MAGIC', 'a structured reply chunk must start with 0x668e33ef')
  return {
    flags: buf.readUInt16BE(4),
    type: buf.readUInt16BE(6),
    cookie: buf.readBigUInt64BE(8),
    length: buf.readUInt32BE(16),
  }
}

/** An ERROR chunk's payload (client side). */
export function decodeErrorPayload(payload: Buffer): { error: number; message: string } {
  if (payload.length < 6 || payload.readUInt16BE(4) > payload.length - 6)
    throw new NbdProtocolError('MALFORMED_REPLY', `an error chunk of ${payload.length} bytes does not hold its message`)
  return { error: payload.readUInt32BE(0), message: payload.toString('utf8', 6, 6 + payload.readUInt16BE(4)) }
}
