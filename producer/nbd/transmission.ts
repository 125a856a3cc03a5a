/**
 * What the transmission phase does with one request, as pure functions: how
 * much of the received bytes it takes and what it starts (framing), the
 * bytes of its reply (simple, or structured when the client negotiated
 * structured replies), the NBD error of a failed request and the bytes it
 * counts. The connection (connection.ts) performs what these answer.
 *
 * Framing. A request is its header, and for a WRITE its payload. A valid
 * WRITE starts only once its whole payload is here (a client that leaves
 * mid-payload has written nothing). A refused WRITE's payload follows
 * whatever the answer, so it is read and dropped, up to MAX_DISCARD_BYTES:
 * past that the stream is given up (the protocol lets a server take a longer
 * one for a denial of service).
 */
import { isXrcError } from '../../lib/errors.js'
import { encodeDoneChunk, encodeErrorChunk, encodeReadChunk, encodeSimpleReply, type RequestHeader } from './codec.js'
import { COMMANDS, ERRORS, MAX_DISCARD_BYTES, NbdProtocolError, SIZES, type NbdErrno } from './protocol.js'
import type { RequestCheck } from './requests.js'

export type AcceptedRequest = Extract<RequestCheck, { ok: true }>
export type RefusedRequest = Extract<RequestCheck, { ok: false }>

/** What to do with a request whose header is here, given the bytes received (header included). */
export type RequestFraming =
  /** A valid WRITE whose payload has not all arrived: wait for more bytes. */
  | { kind: 'wait' }
  /** Take the header and then `payload` bytes (a WRITE's, possibly 0; undefined: none), and start the request. */
  | { kind: 'start'; check: AcceptedRequest; payload: number | undefined }
  /** Take the header, answer with the check's error, then drop the `discard` payload bytes that follow it. */
  | { kind: 'refuse'; check: RefusedRequest; discard: number }
  /** NBD_CMD_DISC: take the header and close once the requests in progress replied. */
  | { kind: 'disconnect' }
  /** A refused WRITE too long to read past: end the connection with this error. */
  | { kind: 'hang-up'; error: NbdProtocolError }

/** Frames one request; `received` counts the bytes here, its header's included. */
export function frameRequest(header: RequestHeader, check: RequestCheck, received: number): RequestFraming {
  if (header.type === COMMANDS.WRITE) {
    if (!check.ok) {
      if (header.length > MAX_DISCARD_BYTES)
        return {
          kind: 'hang-up',
          error: new NbdProtocolError(
            'PAYLOAD_TOO_LARGE',
            `a WRITE of ${header.length} bytes is refused and too large to read past (over ${MAX_DISCARD_BYTES})`,
          ),
        }
      return { kind: 'refuse', check, discard: header.length }
    }
    if (received < SIZES.REQUEST_HEADER + header.length) return { kind: 'wait' }
    return { kind: 'start', check, payload: header.length }
  }
  if (!check.ok) return { kind: 'refuse', check, discard: 0 }
  if (header.type === COMMANDS.DISC) return { kind: 'disconnect' }
  return { kind: 'start', check, payload: undefined }
}

/**
 * A success's reply, as the buffers to write in order: a READ's data in one
 * OFFSET_DATA chunk when structured (a DONE chunk when it is empty), any
 * other success a simple reply (its data after it, when there is any).
 */
export function successReply(structured: boolean, header: RequestHeader, data: Buffer | undefined): Buffer[] {
  if (!structured || header.type !== COMMANDS.READ) return withData(encodeSimpleReply(0, header.cookie), data)
  if (!data || data.length === 0) return [encodeDoneChunk(header.cookie)]
  return withData(encodeReadChunk(header.cookie, header.offset, data.length), data)
}

/** An error's reply: a simple reply, or an ERROR chunk with the message when structured replies were negotiated. */
export function errorReply(structured: boolean, header: RequestHeader, errno: NbdErrno, message: string): Buffer[] {
  return [structured ? encodeErrorChunk(header.cookie, errno, message) : encodeSimpleReply(errno, header.cookie)]
}

function withData(head: Buffer, data: Buffer | undefined): Buffer[] {
  return data && data.length > 0 ? [head, data] : [head]
}

/** The error a request fails with once the server shuts down (it carries its NBD error). */
export function shutdownError(message: string): Error & { nbdErrno: NbdErrno } {
  return Object.assign(new Error(message), { nbdErrno: ERRORS.ESHUTDOWN })
}

/**
 * The NBD error for a failed host write or read (the log line carries the
 * XrcError code): the error's own `nbdErrno` when it has one, NBD_ESHUTDOWN
 * for a closed primary, NBD_EINVAL for a write the primary refuses as
 * invalid or too large, NBD_EIO for anything else.
 */
export function errnoOf(err: unknown): NbdErrno {
  return (err as { nbdErrno?: NbdErrno }).nbdErrno ?? hostErrno(err)
}

function hostErrno(err: unknown): NbdErrno {
  if (isXrcError(err, 'XRC_CLOSED')) return ERRORS.ESHUTDOWN
  if (isXrcError(err, 'XRC_INVALID_RECORD') || isXrcError(err, 'XRC_RECORD_TOO_LARGE')) return ERRORS.EINVAL
  return ERRORS.EIO
}

/** The byte counter a successful request adds its length to: read (READ), written (WRITE, WRITE_ZEROES, TRIM). */
export function countedAs(check: AcceptedRequest): 'read' | 'written' | undefined {
  if (check.kind === 'read') return 'read'
  if (check.kind === 'write' || check.kind === 'zeroes' || check.kind === 'trim') return 'written'
  return undefined
}
