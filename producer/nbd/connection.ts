/**
 * One NBD client connection (NbdConnection): the thin I/O around the pure
 * codec (codec.ts), the option haggling (negotiation.ts), the request
 * checks (requests.ts), what a request becomes and is answered
 * (transmission.ts) and the connection's phase and bounds
 * (connectionState.ts). The handshake runs under a time bound; in the
 * transmission phase requests run concurrently (replies may go out of
 * order, as the protocol allows), with at most MAX_INFLIGHT requests and
 * MAX_INFLIGHT_BYTES of payload per connection: past either, the socket is
 * paused (backpressure to the client), as it is while the client does not
 * read its replies.
 *
 * A WRITE reaches the primary only once its whole payload is here: a client
 * that disconnects in the middle of one has written nothing, and a write
 * whose payload arrived is carried out (and mirrored) even when the client
 * is gone before its reply. A malformed message ends the connection with a
 * log line naming what was wrong (the stream cannot be framed any more).
 *
 * Its parts: the connection's life (#received, #advance, #fail,
 * #socketClosed, shutdown, destroy), the handshake (#readClientFlags,
 * #negotiateOne, #endHandshake, #enterTransmission), the transmission loop
 * (#pump, #takeRequest, #disconnect, #refuse), one request (#start,
 * #perform, #succeeded, #failed, #finish) and the replies (#reply).
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
  encodeGreeting,
  type RequestHeader,
} from './codec.js'
import { ConnectionState } from './connectionState.js'
import type { NbdMetrics } from './nbdMetrics.js'
import { answerOption, type NegotiationContext, type NegotiationStep } from './negotiation.js'
import {
  CLIENT_FLAGS,
  ERRORS,
  HANDSHAKE_FLAGS,
  NbdProtocolError,
  SHUTDOWN_MESSAGE,
  SIZES,
  nameOf,
  type NbdErrno,
} from './protocol.js'
import { checkRequest, commandName } from './requests.js'
import {
  countedAs,
  errnoOf,
  errorReply,
  frameRequest,
  shutdownError,
  successReply,
  type AcceptedRequest,
  type RefusedRequest,
} from './transmission.js'
import type { AttachedExport, VolumeExport } from './volumeExport.js'

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

/** What the transmission loop does after one request's header: read the next one, wait for bytes, or stop. */
type Taken = 'next' | 'wait' | 'stop'

/** One request in progress. */
interface RequestRun {
  header: RequestHeader
  check: AcceptedRequest
  /** The export it runs on (the connection's). */
  export: VolumeExport
  command: string
  /** performance.now() when it began, for the latency histogram. */
  began: number
  /** Its payload bytes, counted against MAX_INFLIGHT_BYTES. */
  bytes: number
}

export class NbdConnection {
  readonly #ctx: ConnectionContext
  readonly #socket: Socket
  readonly #log: Logger
  readonly #queue = new ByteQueue()
  readonly #state = new ConnectionState()
  readonly #closed: Promise<void>
  readonly #handshakeTimer: NodeJS.Timeout
  /** The client set NBD_FLAG_C_NO_ZEROES. */
  #noZeroes = false
  /** NBD_OPT_STRUCTURED_REPLY was acknowledged: READs answer with chunks, errors carry their message. */
  #structured = false
  #export: VolumeExport | undefined
  /** The export's view for this connection, when it gives one (VolumeExport.attach): detached on close. */
  #attached: AttachedExport | undefined
  /** Bytes of a refused WRITE's payload still to be read and dropped. */
  #discarding = 0

  /** Greets the client on `ctx.socket` and serves it until the socket closes. */
  constructor(ctx: ConnectionContext) {
    this.#ctx = ctx
    this.#socket = ctx.socket
    this.#log = ctx.logger.child({ peer: ctx.peer })
    let closedResolve!: () => void
    this.#closed = new Promise<void>((resolve) => (closedResolve = resolve))
    this.#handshakeTimer = setTimeout(() => this.#handshakeTimedOut(), ctx.handshakeTimeoutMs)
    this.#handshakeTimer.unref()
    const socket = this.#socket
    socket.setNoDelay(true)
    socket.write(encodeGreeting(SERVER_HANDSHAKE_FLAGS))
    socket.on('data', (chunk: Buffer) => this.#received(chunk))
    socket.on('drain', () => this.#advanceSafely())
    socket.on('error', (err) => this.#log.debug({ err }, 'NBD connection error'))
    socket.on('close', () => {
      this.#socketClosed()
      closedResolve()
    })
  }

  /** The export, once in the transmission phase. */
  get export(): VolumeExport | undefined {
    return this.#export
  }

  /**
   * Reads no further request, lets those in progress reply, then closes; resolves once closed. The client sees
   * the socket end after its last reply: requests it sent meanwhile get no answer (not NBD_ESHUTDOWN).
   */
  shutdown(): Promise<void> {
    if (this.#state.shutdown()) this.#socket.end()
    // a client that never reads its replies cannot hold the server: the bound is the caller's
    return this.#closed
  }

  /** Ends the connection at once. */
  destroy(): void {
    this.#socket.destroy()
  }

  // --- the connection's life ---

  #handshakeTimedOut(): void {
    this.#ctx.metrics.handshakeFailures.inc({ reason: 'timeout' })
    this.#log.warn(
      { timeoutMs: this.#ctx.handshakeTimeoutMs },
      'closing an NBD connection: no export chosen within the handshake bound',
    )
    this.#socket.destroy()
  }

  #received(chunk: Buffer): void {
    this.#queue.push(chunk)
    this.#advanceSafely()
  }

  #socketClosed(): void {
    clearTimeout(this.#handshakeTimer)
    const inflight = this.#state.inflight
    const was = this.#state.closed()
    this.#queue.clear()
    this.#attached?.detach()
    if (was === 'transmission' && inflight > 0)
      this.#log.info({ inflight }, 'NBD client gone with requests in progress: they finish, their replies are dropped')
    this.#ctx.onClosed()
  }

  /** Ends the connection after a malformed message (or a bug): the stream cannot be framed any more. */
  #fail(err: unknown): void {
    const phase = this.#state.phase
    const reason = err instanceof NbdProtocolError ? err.reason : 'internal'
    if (phase !== 'transmission') this.#ctx.metrics.handshakeFailures.inc({ reason })
    if (err instanceof NbdProtocolError) this.#log.warn({ reason, phase }, `closing an NBD connection: ${err.message}`)
    else this.#log.error({ err, phase }, 'closing an NBD connection after an unexpected error')
    this.#state.close()
    this.#socket.destroy()
  }

  #advanceSafely(): void {
    try {
      this.#advance()
    } catch (err) {
      this.#fail(err)
    }
  }

  /** Handles every whole message that is here, in the phase it arrives in. */
  #advance(): void {
    for (;;) {
      const phase = this.#state.phase
      if (phase === 'flags') {
        if (!this.#readClientFlags()) return
      } else if (phase === 'options') {
        if (!this.#negotiateOne()) return
      } else {
        if (phase === 'transmission') this.#pump()
        return
      }
    }
  }

  // --- the handshake ---

  /** Reads the client's flags if they are here; false when more bytes are needed. */
  #readClientFlags(): boolean {
    const queue = this.#queue
    const flags = decodeClientFlags(queue.peek(Math.min(queue.length, SIZES.CLIENT_FLAGS)), SERVER_HANDSHAKE_FLAGS)
    if (!flags) return false
    queue.skip(SIZES.CLIENT_FLAGS)
    this.#noZeroes = (flags.flags & CLIENT_FLAGS.NO_ZEROES) !== 0
    this.#state.flagsRead()
    return true
  }

  /** Answers one whole option if it is here; false when more bytes are needed or the connection ends. */
  #negotiateOne(): boolean {
    const queue = this.#queue
    const header = decodeOptionHeader(queue.peek(Math.min(queue.length, SIZES.OPTION_HEADER)))
    if (!header || queue.length < SIZES.OPTION_HEADER + header.length) return false
    queue.skip(SIZES.OPTION_HEADER)
    const data = queue.take(header.length)
    const step = answerOption({ ...this.#ctx.negotiation(), noZeroes: this.#noZeroes }, header.option, data)
    for (const reply of step.replies) this.#socket.write(reply)
    if (step.next === 'options' && step.structuredReplies) this.#structured = true
    if ('problem' in step && step.problem !== undefined)
      this.#log.info({ option: header.option }, `NBD option refused: ${step.problem}`)
    if (step.next === 'close') {
      this.#endHandshake(step)
      return false
    }
    if (step.next === 'transmission') this.#enterTransmission(step.export.name)
    return true
  }

  /** ABORT, or an export the client named by NBD_OPT_EXPORT_NAME is not here: the connection ends. */
  #endHandshake(step: Extract<NegotiationStep, { next: 'close' }>): void {
    if (step.problem !== undefined) {
      this.#ctx.metrics.handshakeFailures.inc({ reason: 'unknown_export' })
      this.#log.warn(`closing an NBD connection: ${step.problem}`)
    }
    this.#state.close()
    this.#socket.end()
  }

  #enterTransmission(name: string): void {
    clearTimeout(this.#handshakeTimer)
    const shared = this.#ctx.exports.get(name)
    if (!shared) throw new Error(`negotiation chose export ${name}, which the server does not hold`)
    this.#attached = shared.attach?.()
    const exp = this.#attached ?? shared
    this.#export = exp
    this.#state.transmit()
    this.#ctx.onTransmission(exp)
    this.#log.info({ export: exp.name }, 'NBD client entered the transmission phase')
  }

  // --- the transmission loop ---

  /** Paused: at a bound of requests in progress, or while the client does not read its replies. */
  #blocked(): boolean {
    return this.#state.full || this.#socket.writableNeedDrain
  }

  /** Starts every whole request that is here, as long as the bounds allow; pauses the socket otherwise. */
  #pump(): void {
    const socket = this.#socket
    while (this.#state.phase === 'transmission') {
      if (!this.#dropDiscarded()) break
      if (this.#blocked()) {
        socket.pause()
        return
      }
      const queue = this.#queue
      const header = decodeRequestHeader(queue.peek(Math.min(queue.length, SIZES.REQUEST_HEADER)))
      if (!header) break
      const taken = this.#takeRequest(header)
      if (taken === 'wait') break
      if (taken === 'stop') return
    }
    if (socket.isPaused() && !this.#blocked()) socket.resume()
  }

  /** Reads past what is here of a refused WRITE's payload; true once none is left. */
  #dropDiscarded(): boolean {
    if (this.#discarding > 0) this.#discarding -= this.#queue.skip(this.#discarding)
    return this.#discarding === 0
  }

  /** One request whose header is here: refuse it, start it, disconnect, or wait for its payload. */
  #takeRequest(header: RequestHeader): Taken {
    const exp = this.#export as VolumeExport
    const check = checkRequest(header, { size: exp.size, maxPayload: exp.maxPayload })
    const framing = frameRequest(header, check, this.#queue.length)
    if (framing.kind === 'wait') return 'wait'
    // a WRITE too large to read past: the stream cannot be framed any more
    if (framing.kind === 'hang-up') throw framing.error
    this.#queue.skip(SIZES.REQUEST_HEADER)
    switch (framing.kind) {
      case 'disconnect':
        this.#disconnect()
        return 'stop'
      case 'refuse':
        // the payload follows whatever the answer: read it and drop it
        this.#discarding = framing.discard
        this.#refuse(header, framing.check)
        return 'next'
      case 'start': {
        const payload = framing.payload === undefined ? undefined : this.#queue.take(framing.payload)
        this.#start(header, framing.check, payload)
        return 'next'
      }
    }
  }

  /** NBD_CMD_DISC: nothing more is read; the socket ends once the requests in progress replied. */
  #disconnect(): void {
    const now = this.#state.disconnect()
    this.#queue.clear()
    this.#log.info({ inflight: this.#state.inflight }, 'NBD client disconnected (NBD_CMD_DISC)')
    if (now) this.#socket.end()
  }

  #refuse(header: RequestHeader, check: RefusedRequest): void {
    const command = commandName(header.type)
    const label = this.#export?.name ?? '?'
    const error = nameOf(ERRORS, check.error)
    this.#ctx.metrics.requestErrors.inc({ export: label, command, error })
    this.#log.warn({ export: label, command, error }, `NBD request refused: ${check.message}`)
    this.#reply(errorReply(this.#structured, header, check.error, check.message))
  }

  // --- one request ---

  /** Starts an accepted request; it replies (or its reply is dropped) when the export answers. */
  #start(header: RequestHeader, check: AcceptedRequest, payload: Buffer | undefined): void {
    const run: RequestRun = {
      header,
      check,
      export: this.#export as VolumeExport,
      command: commandName(header.type),
      began: performance.now(),
      bytes: payload?.length ?? 0,
    }
    this.#state.begin(run.bytes)
    this.#perform(run, payload).then(
      (data) => this.#succeeded(run, data),
      (err: unknown) => this.#failed(run, err),
    )
  }

  /** The request's I/O on the export: a READ's data, or undefined. */
  async #perform(run: RequestRun, payload: Buffer | undefined): Promise<Buffer | undefined> {
    if (this.#state.shuttingDown) throw shutdownError(SHUTDOWN_MESSAGE)
    const { check, export: e } = run
    switch (check.kind) {
      case 'read':
        return e.read(check.offset, check.length)
      case 'write':
        await e.write(check.offset, payload as Buffer)
        this.#ctx.onWritten(e, check.length)
        return undefined
      case 'trim':
      case 'zeroes':
        if (check.length > 0) await e.zero(check.offset, check.length)
        this.#ctx.onWritten(e, check.length)
        return undefined
      case 'flush':
        await e.flush()
        return undefined
      default:
        return undefined
    }
  }

  #succeeded(run: RequestRun, data: Buffer | undefined): void {
    const { metrics } = this.#ctx
    const counter = countedAs(run.check)
    if (counter === 'read') metrics.bytesRead.inc({ export: run.export.name }, run.check.length)
    else if (counter === 'written') metrics.bytesWritten.inc({ export: run.export.name }, run.check.length)
    this.#reply(successReply(this.#structured, run.header, data))
    this.#finish(run)
  }

  #failed(run: RequestRun, err: unknown): void {
    const { export: e, command, check } = run
    const errno: NbdErrno = errnoOf(err)
    this.#ctx.metrics.requestErrors.inc({ export: e.name, command, error: nameOf(ERRORS, errno) })
    if (errno !== ERRORS.ESHUTDOWN) {
      const code = isXrcError(err) ? err.code : undefined
      this.#log.warn(
        { export: e.name, command, offset: check.offset, length: check.length, code },
        `NBD ${command} failed: ${errorMessage(err)}`,
      )
    }
    this.#reply(errorReply(this.#structured, run.header, errno, `${command} failed: ${errorMessage(err)}`))
    this.#finish(run)
  }

  /** The request replied (or its reply was dropped): count it, end the socket if it was the last while closing. */
  #finish(run: RequestRun): void {
    const labels = { export: run.export.name, command: run.command }
    this.#ctx.metrics.requests.inc(labels)
    this.#ctx.metrics.requestSeconds.observe(labels, (performance.now() - run.began) / 1000)
    const next = this.#state.end(run.bytes)
    if (next === 'end') this.#socket.end()
    else if (next === 'advance') this.#advanceSafely()
  }

  // --- replies ---

  /** Writes a reply's buffers; replies written in one tick leave in one writev. Dropped once the socket is gone. */
  #reply(buffers: readonly Buffer[]): void {
    const socket = this.#socket
    if (socket.destroyed || !socket.writable) return
    if (socket.writableCorked === 0) {
      socket.cork()
      process.nextTick(() => socket.uncork())
    }
    for (const b of buffers) socket.write(b)
  }
}
