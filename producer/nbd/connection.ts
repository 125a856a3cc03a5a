/**
 * One NBD client connection: the thin I/O around the pure codec
 * (codec.ts), the option haggling (negotiation.ts) and the request checks
 * (requests.ts). The handshake runs under a time bound; in the transmission
 * phase requests run concurrently (replies may go out of order, as the
 * protocol allows), with at most MAX_INFLIGHT requests and
 * MAX_INFLIGHT_BYTES of payload per connection: past either, the socket is
 * paused (backpressure to the client), as it is while the client does not
 * read its replies.
 *
 * A WRITE reaches the primary only once its whole payload is here: a client
 * that disconnects in the middle of one has written nothing, and a write
 * whose payload arrived is carried out (and mirrored) even when the client
 * is gone before its reply. A malformed message ends the connection with a
 * log line naming what was wrong (the stream cannot be framed any more).
 */
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { errorMessage, isXrcError } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import { ByteQueue } from './byteQueue.js'
import {
  decodeClientFlags,
  decodeOptionHeader,
  decodeRequestHeader,
  encodeDoneChunk,
  encodeErrorChunk,
  encodeGreeting,
  encodeReadChunk,
  encodeSimpleReply,
  type RequestHeader,
} from './codec.js'
import type { NbdMetrics } from './nbdMetrics.js'
import { answerOption, type NegotiationContext } from './negotiation.js'
import {
  CLIENT_FLAGS,
  COMMANDS,
  ERRORS,
  HANDSHAKE_FLAGS,
  MAX_DISCARD_BYTES,
  NbdProtocolError,
  SHUTDOWN_MESSAGE,
  SIZES,
  nameOf,
  type NbdErrno,
} from './protocol.js'
import { checkRequest, commandName, type RequestCheck } from './requests.js'
import type { VolumeExport } from './volumeExport.js'

/** Requests in progress per connection before the socket is paused. */
export const MAX_INFLIGHT = 64
/** WRITE payload bytes in progress per connection before the socket is paused. */
export const MAX_INFLIGHT_BYTES = 32 << 20

export const SERVER_HANDSHAKE_FLAGS = HANDSHAKE_FLAGS.FIXED_NEWSTYLE | HANDSHAKE_FLAGS.NO_ZEROES

export interface ConnectionContext {
  socket: Socket
  /** For logs: the peer (TCP address) or the Unix socket. */
  peer: string
  exports: ReadonlyMap<string, VolumeExport>
  negotiation: () => Omit<NegotiationContext, 'noZeroes'>
  handshakeTimeoutMs: number
  metrics: NbdMetrics
  logger: Logger
  /** The connection entered the transmission phase with this export. */
  onTransmission(exp: VolumeExport): void
  /** A write (or zeroing) of `bytes` was acknowledged on the export. */
  onWritten(exp: VolumeExport, bytes: number): void
  onClosed(): void
}

export interface Connection {
  /** The export, once in the transmission phase. */
  readonly export: VolumeExport | undefined
  /** Refuses new requests (NBD_ESHUTDOWN), lets those in progress reply, then closes; resolves once closed. */
  shutdown(): Promise<void>
  /** Ends the connection at once. */
  destroy(): void
}

type Phase = 'flags' | 'options' | 'transmission' | 'closing' | 'closed'

/** The NBD error for a failed host write or read; the log line carries the XrcError code. */
function errnoOf(err: unknown): NbdErrno {
  if (isXrcError(err, 'XRC_CLOSED')) return ERRORS.ESHUTDOWN
  if (isXrcError(err, 'XRC_INVALID_RECORD') || isXrcError(err, 'XRC_RECORD_TOO_LARGE')) return ERRORS.EINVAL
  return ERRORS.EIO
}

export function serveConnection(ctx: ConnectionContext): Connection {
  const { socket } = ctx
  const log = ctx.logger.child({ peer: ctx.peer })
  const queue = new ByteQueue()
  let phase: Phase = 'flags'
  let noZeroes = false
  /** NBD_OPT_STRUCTURED_REPLY was acknowledged: READs answer with chunks, errors carry their message. */
  let structured = false
  let exp: VolumeExport | undefined
  let inflight = 0
  let inflightBytes = 0
  /** Bytes of a refused WRITE's payload still to be read and dropped. */
  let discarding = 0
  let shuttingDown = false
  let closedResolve!: () => void
  const closed = new Promise<void>((resolve) => (closedResolve = resolve))

  const timer = setTimeout(() => {
    ctx.metrics.handshakeFailures.inc({ reason: 'timeout' })
    log.warn(
      { timeoutMs: ctx.handshakeTimeoutMs },
      'closing an NBD connection: no export chosen within the handshake bound',
    )
    socket.destroy()
  }, ctx.handshakeTimeoutMs)
  timer.unref()

  socket.setNoDelay(true)
  socket.write(encodeGreeting(SERVER_HANDSHAKE_FLAGS))
  socket.on('data', (chunk: Buffer) => {
    queue.push(chunk)
    try {
      advance()
    } catch (err) {
      fail(err)
    }
  })
  socket.on('drain', () => advanceSafely())
  socket.on('error', (err) => log.debug({ err }, 'NBD connection error'))
  socket.on('close', () => {
    clearTimeout(timer)
    const was = phase
    phase = 'closed'
    queue.clear()
    if (was === 'transmission' && inflight > 0)
      log.info({ inflight }, 'NBD client gone with requests in progress: they finish, their replies are dropped')
    ctx.onClosed()
    closedResolve()
  })

  function fail(err: unknown): void {
    const reason = err instanceof NbdProtocolError ? err.reason : 'internal'
    if (phase !== 'transmission') ctx.metrics.handshakeFailures.inc({ reason })
    if (err instanceof NbdProtocolError) log.warn({ reason, phase }, `closing an NBD connection: ${err.message}`)
    else log.error({ err, phase }, 'closing an NBD connection after an unexpected error')
    phase = 'closing'
    socket.destroy()
  }

  function advanceSafely(): void {
    try {
      advance()
    } catch (err) {
      fail(err)
    }
  }

  function advance(): void {
    for (;;) {
      if (phase === 'flags') {
        const flags = decodeClientFlags(queue.peek(Math.min(queue.length, SIZES.CLIENT_FLAGS)), SERVER_HANDSHAKE_FLAGS)
        if (!flags) return
        queue.skip(SIZES.CLIENT_FLAGS)
        noZeroes = (flags.flags & CLIENT_FLAGS.NO_ZEROES) !== 0
        phase = 'options'
      } else if (phase === 'options') {
        if (!negotiateOne()) return
      } else if (phase === 'transmission') {
        pump()
        return
      } else return
    }
  }

  /** Answers one whole option if it is here; false when more bytes are needed or the connection ends. */
  function negotiateOne(): boolean {
    const header = decodeOptionHeader(queue.peek(Math.min(queue.length, SIZES.OPTION_HEADER)))
    if (!header || queue.length < SIZES.OPTION_HEADER + header.length) return false
    queue.skip(SIZES.OPTION_HEADER)
    const data = queue.take(header.length)
    const step = answerOption({ ...ctx.negotiation(), noZeroes }, header.option, data)
    for (const reply of step.replies) socket.write(reply)
    if (step.next === 'options' && step.structuredReplies) structured = true
    if ('problem' in step && step.problem !== undefined)
      log.info({ option: header.option }, `NBD option refused: ${step.problem}`)
    if (step.next === 'close') {
      if (step.problem !== undefined) {
        ctx.metrics.handshakeFailures.inc({ reason: 'unknown_export' })
        log.warn(`closing an NBD connection: ${step.problem}`)
      }
      phase = 'closing'
      socket.end()
      return false
    }
    if (step.next === 'transmission') {
      clearTimeout(timer)
      exp = ctx.exports.get(step.export.name)
      if (!exp) throw new Error(`negotiation chose export ${step.export.name}, which the server does not hold`)
      phase = 'transmission'
      ctx.onTransmission(exp)
      log.info({ export: exp.name }, 'NBD client entered the transmission phase')
    }
    return true
  }

  function blocked(): boolean {
    return inflight >= MAX_INFLIGHT || inflightBytes >= MAX_INFLIGHT_BYTES || socket.writableNeedDrain
  }

  /** Starts every whole request that is here, as long as the bounds allow; pauses the socket otherwise. */
  function pump(): void {
    while (phase === 'transmission') {
      if (discarding > 0) {
        discarding -= queue.skip(discarding)
        if (discarding > 0) break
      }
      if (blocked()) {
        socket.pause()
        return
      }
      const header = decodeRequestHeader(queue.peek(Math.min(queue.length, SIZES.REQUEST_HEADER)))
      if (!header) break
      const check = checkRequest(header, {
        size: (exp as VolumeExport).size,
        maxPayload: (exp as VolumeExport).maxPayload,
      })
      if (header.type === COMMANDS.WRITE) {
        if (!check.ok) {
          // the payload follows whatever the answer: read it and drop it, or hang up when it is absurd
          if (header.length > MAX_DISCARD_BYTES)
            throw new NbdProtocolError(
              'PAYLOAD_TOO_LARGE',
              `a WRITE of ${header.length} bytes is refused and too large to read past (over ${MAX_DISCARD_BYTES})`,
            )
          queue.skip(SIZES.REQUEST_HEADER)
          discarding = header.length
          refuse(header, check)
          continue
        }
        if (queue.length < SIZES.REQUEST_HEADER + header.length) break
        queue.skip(SIZES.REQUEST_HEADER)
        start(header, check, queue.take(header.length))
        continue
      }
      queue.skip(SIZES.REQUEST_HEADER)
      if (header.type === COMMANDS.DISC && check.ok) {
        phase = 'closing'
        queue.clear()
        log.info({ inflight }, 'NBD client disconnected (NBD_CMD_DISC)')
        if (inflight === 0) socket.end()
        return
      }
      if (!check.ok) refuse(header, check)
      else start(header, check, undefined)
    }
    if (socket.isPaused() && !blocked()) socket.resume()
  }

  function refuse(header: RequestHeader, check: Extract<RequestCheck, { ok: false }>): void {
    const command = commandName(header.type)
    const label = exp?.name ?? '?'
    ctx.metrics.requestErrors.inc({ export: label, command, error: nameOf(ERRORS, check.error) })
    log.warn({ export: label, command, error: nameOf(ERRORS, check.error) }, `NBD request refused: ${check.message}`)
    replyError(header, check.error, check.message)
  }

  /** A success: a READ's data (one OFFSET_DATA chunk when structured), or an empty reply. */
  function replyOk(header: RequestHeader, data: Buffer | undefined): void {
    if (!structured || header.type !== COMMANDS.READ) return reply(encodeSimpleReply(0, header.cookie), data)
    if (!data || data.length === 0) return reply(encodeDoneChunk(header.cookie))
    reply(encodeReadChunk(header.cookie, header.offset, data.length), data)
  }

  /** An error: a simple reply, or an ERROR chunk with the message when structured replies were negotiated. */
  function replyError(header: RequestHeader, errno: NbdErrno, message: string): void {
    reply(structured ? encodeErrorChunk(header.cookie, errno, message) : encodeSimpleReply(errno, header.cookie))
  }

  function reply(header: Buffer, data?: Buffer): void {
    if (socket.destroyed || !socket.writable) return
    // replies written in one tick leave in one writev
    if (socket.writableCorked === 0) {
      socket.cork()
      process.nextTick(() => socket.uncork())
    }
    socket.write(header)
    if (data && data.length > 0) socket.write(data)
  }

  function start(header: RequestHeader, check: Extract<RequestCheck, { ok: true }>, payload: Buffer | undefined): void {
    const e = exp as VolumeExport
    const command = commandName(header.type)
    const began = performance.now()
    const bytes = payload?.length ?? 0
    inflight++
    inflightBytes += bytes
    const run = async (): Promise<Buffer | undefined> => {
      if (shuttingDown) throw Object.assign(new Error(SHUTDOWN_MESSAGE), { nbdErrno: ERRORS.ESHUTDOWN })
      switch (check.kind) {
        case 'read':
          return e.read(check.offset, check.length)
        case 'write':
          await e.write(check.offset, payload as Buffer)
          ctx.onWritten(e, check.length)
          return undefined
        case 'trim':
        case 'zeroes':
          if (check.length > 0) await e.zero(check.offset, check.length)
          ctx.onWritten(e, check.length)
          return undefined
        case 'flush':
          await e.flush()
          return undefined
        default:
          return undefined
      }
    }
    run().then(
      (data) => {
        if (check.kind === 'read') ctx.metrics.bytesRead.inc({ export: e.name }, check.length)
        if (check.kind === 'write' || check.kind === 'zeroes' || check.kind === 'trim')
          ctx.metrics.bytesWritten.inc({ export: e.name }, check.length)
        replyOk(header, data)
        finish()
      },
      (err: unknown) => {
        const errno = (err as { nbdErrno?: NbdErrno }).nbdErrno ?? errnoOf(err)
        ctx.metrics.requestErrors.inc({ export: e.name, command, error: nameOf(ERRORS, errno) })
        if (errno !== ERRORS.ESHUTDOWN)
          log.warn(
            {
              export: e.name,
              command,
              offset: check.offset,
              length: check.length,
              code: isXrcError(err) ? err.code : undefined,
            },
            `NBD ${command} failed: ${errorMessage(err)}`,
          )
        replyError(header, errno, `${command} failed: ${errorMessage(err)}`)
        finish()
      },
    )
    function finish(): void {
      ctx.metrics.requests.inc({ export: e.name, command })
      ctx.metrics.requestSeconds.observe({ export: e.name, command }, (performance.now() - began) / 1000)
      inflight--
      inflightBytes -= bytes
      if (phase === 'closing' && inflight === 0) socket.end()
      else if (phase === 'transmission') advanceSafely()
    }
  }

  return {
    get export() {
      return exp
    },
    shutdown() {
      shuttingDown = true
      if (phase !== 'transmission' || inflight === 0) {
        phase = 'closing'
        socket.end()
      } else phase = 'closing'
      // a client that never reads its replies cannot hold the server: the bound is the caller's
      return closed
    },
    destroy() {
      socket.destroy()
    },
  }
}
