/**
 * The state of one NBD connection, with no I/O: its phase, the requests in
 * progress and their payload bytes, and what the connection does when a
 * request replies, the client sends NBD_CMD_DISC or the server shuts down.
 * The connection (connection.ts) holds one and does what it answers.
 *
 *   flags -> options -> transmission -> closing -> closed
 *      \         \                      ^            ^
 *       +---------+---------------------+            |
 *   (any phase) --------------------------------------+  (the socket closed)
 *
 * Bounds: at MAX_INFLIGHT requests or MAX_INFLIGHT_BYTES of WRITE payload in
 * progress the connection is full, and the socket is paused until a request
 * replies (backpressure to the client).
 */

/** Requests in progress per connection before the socket is paused. */
export const MAX_INFLIGHT = 64
/** WRITE payload bytes in progress per connection before the socket is paused. */
export const MAX_INFLIGHT_BYTES = 32 << 20

export type Phase = 'flags' | 'options' | 'transmission' | 'closing' | 'closed'

/** What the connection does once a request replied. */
export type AfterReply =
  /** The connection is closing and this was the last request in progress: end the socket. */
  | 'end'
  /** Still in the transmission phase: read on (the bounds may allow more requests now). */
  | 'advance'
  /** Nothing (the socket is closed, or requests are still in progress while closing). */
  | 'none'

export class ConnectionState {
  #phase: Phase = 'flags'
  #inflight = 0
  #inflightBytes = 0
  #shuttingDown = false

  get phase(): Phase {
    return this.#phase
  }

  /** Requests begun and not yet replied. */
  get inflight(): number {
    return this.#inflight
  }

  /** WRITE payload bytes of the requests in progress. */
  get inflightBytes(): number {
    return this.#inflightBytes
  }

  /** shutdown() was called: a request that would begin now is refused with NBD_ESHUTDOWN. */
  get shuttingDown(): boolean {
    return this.#shuttingDown
  }

  /** True at either bound: no request begins until one replies. */
  get full(): boolean {
    return this.#inflight >= MAX_INFLIGHT || this.#inflightBytes >= MAX_INFLIGHT_BYTES
  }

  /** The client's flags were read: flags -> options. */
  flagsRead(): void {
    if (this.#phase === 'flags') this.#phase = 'options'
  }

  /** An export was chosen: options -> transmission. */
  transmit(): void {
    if (this.#phase === 'options') this.#phase = 'transmission'
  }

  /** The connection is being ended (ABORT, an unknown export, a malformed message): no more reading. */
  close(): void {
    if (this.#phase !== 'closed') this.#phase = 'closing'
  }

  /** The socket closed; returns the phase it was in. */
  closed(): Phase {
    const was = this.#phase
    this.#phase = 'closed'
    return was
  }

  /** A request begins with `bytes` of payload. */
  begin(bytes: number): void {
    this.#inflight++
    this.#inflightBytes += bytes
  }

  /** A request that began with `bytes` of payload replied (or its reply was dropped). */
  end(bytes: number): AfterReply {
    this.#inflight--
    this.#inflightBytes -= bytes
    if (this.#phase === 'closing' && this.#inflight === 0) return 'end'
    return this.#phase === 'transmission' ? 'advance' : 'none'
  }

  /** NBD_CMD_DISC: closing; true when the socket ends now (nothing in progress), else the last reply ends it. */
  disconnect(): boolean {
    this.close()
    return this.#inflight === 0
  }

  /**
   * The server shuts down: closing; true when the socket ends now (outside the
   * transmission phase, or nothing in progress), else the last reply ends it.
   */
  shutdown(): boolean {
    this.#shuttingDown = true
    const now = this.#phase !== 'transmission' || this.#inflight === 0
    this.close()
    return now
  }
}
