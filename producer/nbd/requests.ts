/**
 * What the server makes of one transmission request, as pure functions: is
 * it valid for the export (and if not, which NBD error, with a message for
 * the log), and for a byte range, which whole blocks it touches and how an
 * unaligned write merges into them. The I/O (volumeExport.ts) follows these
 * plans.
 *
 * Errors follow the NBD project's doc/proto.md: a request past the end is NBD_ENOSPC for
 * WRITE and WRITE_ZEROES, NBD_EINVAL for READ and TRIM; a READ or WRITE
 * longer than the advertised maximum payload is NBD_EINVAL (a client that
 * asked for the size constraints MUST NOT send one; one that did not is
 * refused cleanly); an unknown command or flag, or a flag not valid for the
 * command, is NBD_EINVAL; FLUSH and DISC with a non-zero offset or length
 * are NBD_EINVAL. TRIM and WRITE_ZEROES carry no payload and may be longer
 * than the maximum payload: the server accepts them (volumeExport.ts zeroes
 * them in pieces of at most the maximum payload).
 */
import type { RequestHeader } from './codec.js'
import { COMMANDS, COMMAND_FLAGS, ERRORS, nameOf, type NbdErrno } from './protocol.js'

export interface ExportLimits {
  /** Bytes. */
  size: number
  /** Largest READ or WRITE payload, bytes. */
  maxPayload: number
}

export type RequestKind = 'read' | 'write' | 'disc' | 'flush' | 'trim' | 'zeroes'

export type RequestCheck =
  | { ok: true; kind: RequestKind; offset: number; length: number; fua: boolean }
  | { ok: false; error: NbdErrno; message: string }

const KINDS: Partial<Record<number, RequestKind>> = {
  [COMMANDS.READ]: 'read',
  [COMMANDS.WRITE]: 'write',
  [COMMANDS.DISC]: 'disc',
  [COMMANDS.FLUSH]: 'flush',
  [COMMANDS.TRIM]: 'trim',
  [COMMANDS.WRITE_ZEROES]: 'zeroes',
}

/** Flags valid per command, given what the server advertised (FUA on every command, NO_HOLE on WRITE_ZEROES). */
const VALID_FLAGS: Record<RequestKind, number> = {
  read: COMMAND_FLAGS.FUA,
  write: COMMAND_FLAGS.FUA,
  disc: COMMAND_FLAGS.FUA,
  flush: COMMAND_FLAGS.FUA,
  trim: COMMAND_FLAGS.FUA,
  zeroes: COMMAND_FLAGS.FUA | COMMAND_FLAGS.NO_HOLE,
}

/** The command's name for logs and metric labels. */
export function commandName(type: number): string {
  return nameOf(COMMANDS, type)
}

/** Checks a request against the export; see the module comment for the errors. */
export function checkRequest(header: RequestHeader, limits: ExportLimits): RequestCheck {
  const kind = KINDS[header.type]
  const name = commandName(header.type)
  if (kind === undefined) return { ok: false, error: ERRORS.EINVAL, message: `unsupported command ${name}` }
  const extra = header.flags & ~VALID_FLAGS[kind]
  if (extra !== 0)
    return { ok: false, error: ERRORS.EINVAL, message: `flags 0x${extra.toString(16)} are not valid on ${name}` }
  const fua = (header.flags & COMMAND_FLAGS.FUA) !== 0
  if (kind === 'disc' || kind === 'flush') {
    if (header.offset !== 0n || header.length !== 0)
      return { ok: false, error: ERRORS.EINVAL, message: `${name} must have offset and length 0` }
    return { ok: true, kind, offset: 0, length: 0, fua }
  }
  const end = header.offset + BigInt(header.length)
  if (end > BigInt(limits.size)) {
    const pastEnd = kind === 'write' || kind === 'zeroes' ? ERRORS.ENOSPC : ERRORS.EINVAL
    return {
      ok: false,
      error: pastEnd,
      message: `${name} of ${header.length} bytes at ${header.offset} ends past the export's ${limits.size} bytes`,
    }
  }
  if ((kind === 'read' || kind === 'write') && header.length > limits.maxPayload)
    return {
      ok: false,
      error: ERRORS.EINVAL,
      message: `${name} of ${header.length} bytes exceeds the maximum payload of ${limits.maxPayload} bytes`,
    }
  return { ok: true, kind, offset: Number(header.offset), length: header.length, fua }
}

/** The whole blocks a byte range touches, and where the range sits in them. */
export interface BlockSpan {
  firstBlock: number
  blockCount: number
  /** Bytes of the first block before the range. */
  head: number
  /** Bytes of the last block after the range. */
  tail: number
}

/** The whole blocks under [offset, offset + length); length > 0. */
export function blockSpan(offset: number, length: number, blockSize: number): BlockSpan {
  const firstBlock = Math.floor(offset / blockSize)
  const end = offset + length
  const lastBlock = Math.floor((end - 1) / blockSize)
  return {
    firstBlock,
    blockCount: lastBlock - firstBlock + 1,
    head: offset - firstBlock * blockSize,
    tail: (lastBlock + 1) * blockSize - end,
  }
}

/** True when the range is whole blocks: no read-modify-write. */
export function isAligned(span: BlockSpan): boolean {
  return span.head === 0 && span.tail === 0
}

/**
 * The blocks a write of `data` at the span writes: the edge blocks as read
 * (`edges`: the first block's bytes when head > 0, the last block's when
 * tail > 0, or both in one buffer when the span is one block) with `data`
 * laid over them.
 */
export function mergeIntoBlocks(
  span: BlockSpan,
  blockSize: number,
  data: Buffer,
  edges: { first?: Buffer; last?: Buffer },
): Buffer {
  const out = Buffer.allocUnsafe(span.blockCount * blockSize)
  if (span.head > 0) {
    if (!edges.first || edges.first.length !== blockSize) throw new RangeError('the first block is needed')
    edges.first.copy(out, 0, 0, span.head)
  }
  data.copy(out, span.head)
  if (span.tail > 0) {
    if (!edges.last || edges.last.length !== blockSize) throw new RangeError('the last block is needed')
    edges.last.copy(out, out.length - span.tail, blockSize - span.tail)
  }
  return out
}

/**
 * Pieces of at most `maxBytes` covering [offset, offset + length), each
 * piece's whole blocks at most `maxBytes`: how an oversized zeroing is split.
 * Pieces after the first start on a block boundary.
 */
export function splitRange(
  offset: number,
  length: number,
  blockSize: number,
  maxBytes: number,
): { offset: number; length: number }[] {
  const pieces: { offset: number; length: number }[] = []
  const maxBlocks = Math.max(1, Math.floor(maxBytes / blockSize))
  let at = offset
  const end = offset + length
  while (at < end) {
    const firstBlock = Math.floor(at / blockSize)
    const pieceEnd = Math.min(end, (firstBlock + maxBlocks) * blockSize)
    pieces.push({ offset: at, length: pieceEnd - at })
    at = pieceEnd
  }
  return pieces
}
