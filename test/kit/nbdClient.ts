/**
 * A raw NBD client for tests, speaking through the same pure codec the
 * server uses (producer/nbd/codec.ts) over a real socket: it can do what
 * well-behaved clients (nbdcopy, qemu-img, fio) never do, such as send a
 * bad handshake, an oversized request, or half a write and hang up.
 */
import { connect, type Socket } from 'node:net'
import { nbdCodec as codec, nbdProtocol as P } from '../../producer/nbd/index.js'

export interface OptionReply {
  option: number
  type: number
  data: Buffer
}

/** A request's outcome: its error (0 on success), a READ's data, and the message of a structured error. */
export interface NbdReply {
  error: number
  data: Buffer
  message?: string
}

export class RawNbdClient {
  private buf = Buffer.alloc(0)
  private waiters: (() => void)[] = []
  private ended = false
  readonly closed: Promise<void>
  private nextCookie = 1n
  private readonly pending = new Map<
    bigint,
    { offset: bigint; length: number; data?: Buffer; resolve: (r: NbdReply) => void }
  >()
  private transmission = false

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buf = Buffer.concat([this.buf, chunk])
      if (this.transmission) this.drainReplies()
      for (const w of this.waiters.splice(0)) w()
    })
    this.closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.ended = true
        for (const w of this.waiters.splice(0)) w()
        resolve()
      })
    })
    socket.on('error', () => undefined)
  }

  static async connect(target: { path: string } | { port: number; host: string }): Promise<RawNbdClient> {
    const socket = connect(target as { path: string })
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    return new RawNbdClient(socket)
  }

  get isClosed(): boolean {
    return this.ended
  }

  /** Resolves with `n` bytes once they are here; rejects when the server closes first. */
  async read(n: number): Promise<Buffer> {
    while (this.buf.length < n) {
      if (this.ended) throw new Error(`the server closed the connection (wanted ${n} bytes, have ${this.buf.length})`)
      await new Promise<void>((resolve) => this.waiters.push(resolve))
    }
    const out = this.buf.subarray(0, n)
    this.buf = this.buf.subarray(n)
    return out
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes)
  }

  /** Reads the greeting and sends the client flags (fixed newstyle, no zeroes by default). */
  async handshake(clientFlags = P.CLIENT_FLAGS.FIXED_NEWSTYLE | P.CLIENT_FLAGS.NO_ZEROES): Promise<number> {
    const greeting = codec.decodeGreeting(await this.read(P.SIZES.GREETING))
    this.write(codec.encodeClientFlags(clientFlags))
    return greeting?.handshakeFlags ?? 0
  }

  async optionReply(): Promise<OptionReply> {
    const h = codec.decodeOptionReplyHeader(await this.read(P.SIZES.OPTION_REPLY_HEADER))
    if (!h) throw new Error('unreachable')
    return { option: h.option, type: h.type, data: await this.read(h.length) }
  }

  /** Sends an option and collects replies up to the final one (ACK or an error). */
  async option(option: number, data?: Buffer): Promise<OptionReply[]> {
    this.write(codec.encodeOption(option, data))
    const replies: OptionReply[] = []
    for (;;) {
      const r = await this.optionReply()
      replies.push(r)
      if (r.type === P.REPLIES.ACK || r.type >= 0x80000000) return replies
    }
  }

  /** NBD_OPT_GO; on success the connection is in the transmission phase. */
  async go(name: string): Promise<{ size: bigint; flags: number; maxPayload?: number; replies: OptionReply[] }> {
    const replies = await this.option(P.OPTIONS.GO, codec.encodeInfoRequest(name, [P.INFOS.BLOCK_SIZE]))
    const last = replies.at(-1)
    if (last?.type !== P.REPLIES.ACK) return { size: 0n, flags: 0, replies }
    this.transmission = true
    let size = 0n
    let flags = 0
    let maxPayload: number | undefined
    for (const r of replies.slice(0, -1)) {
      const info = codec.decodeInfo(r.data)
      if ('size' in info) ({ size, flags } = info)
      if ('maximum' in info) maxPayload = info.maximum
    }
    this.drainReplies()
    return { size, flags, replies, ...(maxPayload !== undefined ? { maxPayload } : {}) }
  }

  /** Asks for structured replies (NBD_OPT_STRUCTURED_REPLY); true when the server acknowledged. */
  async structuredReplies(): Promise<boolean> {
    const [r] = await this.option(P.OPTIONS.STRUCTURED_REPLY)
    return r?.type === P.REPLIES.ACK
  }

  private drainReplies(): void {
    for (;;) {
      if (this.buf.length < 4) return
      if (this.buf.readUInt32BE(0) === P.STRUCTURED_REPLY_MAGIC) {
        const h = codec.decodeChunkHeader(this.buf)
        if (!h || this.buf.length < P.SIZES.STRUCTURED_REPLY_HEADER + h.length) return
        const payload = Buffer.from(
          this.buf.subarray(P.SIZES.STRUCTURED_REPLY_HEADER, P.SIZES.STRUCTURED_REPLY_HEADER + h.length),
        )
        this.buf = this.buf.subarray(P.SIZES.STRUCTURED_REPLY_HEADER + h.length)
        const p = this.pending.get(h.cookie)
        if (!p) continue
        let error = 0
        let message: string | undefined
        if (h.type === P.CHUNK_TYPES.OFFSET_DATA) {
          p.data ??= Buffer.alloc(p.length)
          payload.copy(p.data, Number(payload.readBigUInt64BE(0) - p.offset), 8)
        } else if (h.type & 0x8000) ({ error, message } = codec.decodeErrorPayload(payload))
        if (h.flags & P.CHUNK_FLAGS.DONE || error !== 0) {
          this.pending.delete(h.cookie)
          p.resolve({
            error,
            data: error === 0 ? (p.data ?? Buffer.alloc(0)) : Buffer.alloc(0),
            ...(message !== undefined ? { message } : {}),
          })
        }
        continue
      }
      const r = codec.decodeSimpleReply(this.buf)
      if (!r) return
      const p = this.pending.get(r.cookie)
      const length = r.error === 0 ? (p?.length ?? 0) : 0
      if (this.buf.length < P.SIZES.SIMPLE_REPLY + length) return
      const data = this.buf.subarray(P.SIZES.SIMPLE_REPLY, P.SIZES.SIMPLE_REPLY + length)
      this.buf = this.buf.subarray(P.SIZES.SIMPLE_REPLY + length)
      this.pending.delete(r.cookie)
      p?.resolve({ error: r.error, data: Buffer.from(data) })
    }
  }

  /** Sends a request and resolves with its reply (error 0 and a READ's data on success). */
  request(
    type: number,
    offset: number | bigint,
    length: number,
    options: { flags?: number; payload?: Buffer } = {},
  ): Promise<NbdReply> {
    const cookie = this.nextCookie++
    const reply = new Promise<NbdReply>((resolve, reject) => {
      this.pending.set(cookie, { offset: BigInt(offset), length: type === P.COMMANDS.READ ? length : 0, resolve })
      void this.closed.then(() => reject(new Error(`connection closed before the reply to cookie ${cookie}`)))
    })
    this.write(
      codec.encodeRequest({ flags: options.flags ?? 0, type, cookie, offset: BigInt(offset), length }, options.payload),
    )
    return reply
  }

  write_(offset: number, data: Buffer, flags = 0): Promise<NbdReply> {
    return this.request(P.COMMANDS.WRITE, offset, data.length, { payload: data, flags })
  }

  async readBytes(offset: number, length: number): Promise<Buffer> {
    const r = await this.request(P.COMMANDS.READ, offset, length)
    if (r.error !== 0) throw new Error(`READ failed with ${r.error}`)
    return r.data
  }

  /** NBD_CMD_DISC, then waits for the server to close. */
  async disconnect(): Promise<void> {
    this.write(codec.encodeRequest({ flags: 0, type: P.COMMANDS.DISC, cookie: 0n, offset: 0n, length: 0 }))
    await this.closed
  }

  destroy(): void {
    this.socket.destroy()
  }
}
