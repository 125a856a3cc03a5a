/**
 * The option haggling of the fixed newstyle handshake as a pure function:
 * given one option from the client, the bytes to answer and what happens
 * next (more options, the transmission phase with an export, or the end of
 * the connection). No I/O, so every option and every malformed one is
 * tested without a socket (negotiation.test.ts).
 *
 * Answers (the NBD project's doc/proto.md, "Option types"):
 * - EXPORT_NAME: the export's size and flags, then transmission; an unknown
 *   name cannot be answered with an error, so the connection is closed.
 * - ABORT: NBD_REP_ACK, then close.
 * - LIST: one NBD_REP_SERVER per export, then NBD_REP_ACK (ERR_INVALID if data came with it).
 * - INFO, GO: NBD_INFO_EXPORT, NBD_INFO_BLOCK_SIZE (always: the maximum
 *   payload is below the protocol's default) and, when asked,
 *   NBD_INFO_NAME and NBD_INFO_DESCRIPTION, then NBD_REP_ACK (GO: transmission);
 *   ERR_UNKNOWN for an unknown export, ERR_INVALID for malformed data.
 * - STRUCTURED_REPLY: NBD_REP_ACK (structured replies from then on; ERR_INVALID if data came with it).
 * - anything else (STARTTLS, meta contexts, extended headers, unknown
 *   numbers): NBD_REP_ERR_UNSUP, and the handshake goes on.
 * - while the server shuts down: NBD_REP_ERR_SHUTDOWN to all but ABORT.
 */
import {
  encodeExportNameReply,
  encodeInfoBlockSize,
  encodeInfoExport,
  encodeInfoText,
  encodeOptionError,
  encodeOptionReply,
  encodeServerReplyData,
  decodeInfoRequest,
} from './codec.js'
import { INFOS, NbdProtocolError, OPTIONS, REPLIES, SHUTDOWN_MESSAGE, nameOf } from './protocol.js'

/** What a client sees of one export. */
export interface ExportDescription {
  name: string
  /** Bytes. */
  size: number
  description: string
}

export interface NegotiationContext {
  exports: ReadonlyMap<string, ExportDescription>
  transmissionFlags: number
  blockSizes: { minimum: number; preferred: number; maximum: number }
  /** The client set NBD_FLAG_C_NO_ZEROES. */
  noZeroes: boolean
  shuttingDown: boolean
}

export type NegotiationStep =
  | { replies: Buffer[]; next: 'options'; problem?: string; structuredReplies?: true }
  | { replies: Buffer[]; next: 'transmission'; export: ExportDescription }
  | { replies: Buffer[]; next: 'close'; problem?: string }

/**
 * The export a name selects: the empty name is the default export, which is
 * the only export when the server has exactly one.
 */
export function selectExport(
  exports: ReadonlyMap<string, ExportDescription>,
  name: string,
): ExportDescription | undefined {
  if (name === '' && exports.size === 1) return exports.values().next().value
  return exports.get(name)
}

function unknownExport(ctx: NegotiationContext, name: string): string {
  const names = [...ctx.exports.keys()].join(', ')
  return `no export named "${name}" (exports: ${names || 'none'})`
}

/** Answers one option (its number and data). */
export function answerOption(ctx: NegotiationContext, option: number, data: Buffer): NegotiationStep {
  if (ctx.shuttingDown && option !== OPTIONS.ABORT)
    return {
      replies: [encodeOptionError(option, REPLIES.ERR_SHUTDOWN, SHUTDOWN_MESSAGE)],
      next: 'options',
    }
  switch (option) {
    case OPTIONS.EXPORT_NAME: {
      const name = data.toString('utf8')
      const exp = selectExport(ctx.exports, name)
      // this option cannot be answered with an error: the protocol says to end the session
      if (!exp) return { replies: [], next: 'close', problem: `NBD_OPT_EXPORT_NAME: ${unknownExport(ctx, name)}` }
      return {
        replies: [encodeExportNameReply(BigInt(exp.size), ctx.transmissionFlags, ctx.noZeroes)],
        next: 'transmission',
        export: exp,
      }
    }
    case OPTIONS.ABORT:
      return { replies: [encodeOptionReply(option, REPLIES.ACK)], next: 'close' }
    case OPTIONS.LIST: {
      if (data.length !== 0) return invalid(option, `NBD_OPT_LIST carries no data, got ${data.length} bytes`)
      const servers = [...ctx.exports.values()].map((e) =>
        encodeOptionReply(option, REPLIES.SERVER, encodeServerReplyData(e.name, e.description)),
      )
      return { replies: [...servers, encodeOptionReply(option, REPLIES.ACK)], next: 'options' }
    }
    case OPTIONS.STRUCTURED_REPLY:
      if (data.length !== 0)
        return invalid(option, `NBD_OPT_STRUCTURED_REPLY carries no data, got ${data.length} bytes`)
      return { replies: [encodeOptionReply(option, REPLIES.ACK)], next: 'options', structuredReplies: true }
    case OPTIONS.INFO:
    case OPTIONS.GO:
      return answerInfo(ctx, option, data)
    default:
      return {
        replies: [encodeOptionError(option, REPLIES.ERR_UNSUP, `option ${nameOf(OPTIONS, option)} is not supported`)],
        next: 'options',
        problem: `unsupported option ${nameOf(OPTIONS, option)}`,
      }
  }
}

function invalid(option: number, message: string): NegotiationStep {
  return { replies: [encodeOptionError(option, REPLIES.ERR_INVALID, message)], next: 'options', problem: message }
}

function answerInfo(ctx: NegotiationContext, option: number, data: Buffer): NegotiationStep {
  let request: { name: string; infos: number[] }
  try {
    request = decodeInfoRequest(data)
  } catch (err) {
    if (err instanceof NbdProtocolError) return invalid(option, err.message)
    throw err
  }
  const exp = selectExport(ctx.exports, request.name)
  if (!exp) {
    const problem = unknownExport(ctx, request.name)
    return { replies: [encodeOptionError(option, REPLIES.ERR_UNKNOWN, problem)], next: 'options', problem }
  }
  const { minimum, preferred, maximum } = ctx.blockSizes
  const infos = [
    encodeInfoExport(BigInt(exp.size), ctx.transmissionFlags),
    // sent whether asked or not: a client that did not ask is held to the constraints by errors, not by trust
    encodeInfoBlockSize(minimum, preferred, maximum),
  ]
  if (request.infos.includes(INFOS.NAME)) infos.push(encodeInfoText(INFOS.NAME, exp.name))
  if (request.infos.includes(INFOS.DESCRIPTION)) infos.push(encodeInfoText(INFOS.DESCRIPTION, exp.description))
  const replies = [
    ...infos.map((i) => encodeOptionReply(option, REPLIES.INFO, i)),
    encodeOptionReply(option, REPLIES.ACK),
  ]
  return option === OPTIONS.GO ? { replies, next: 'transmission', export: exp } : { replies, next: 'options' }
}
