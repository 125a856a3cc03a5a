/**
 * Whether the NBD server takes a new connection, with no I/O: never once it
 * is closing; never past nbd.maxConnections open (listeners together), and
 * then a log line at most once per `logEveryMs`, carrying how many were
 * refused since the last one. The server (nbdServer.ts) does what it answers.
 */

/** What to do with a new connection. */
export type Admission =
  /** Serve it. */
  | { kind: 'serve' }
  /** The server is closing: close it at once, silently. */
  | { kind: 'drop' }
  /** At the bound: close it at once; `log` when a line is due, with the refusals it reports (this one included). */
  | { kind: 'refuse'; log?: { refused: number } }

export class ConnectionGate {
  readonly maxConnections: number
  readonly logEveryMs: number
  #closing = false
  #refusedSinceLog = 0
  #lastLogAt = 0

  constructor(maxConnections: number, logEveryMs = 1000) {
    this.maxConnections = maxConnections
    this.logEveryMs = logEveryMs
  }

  get closing(): boolean {
    return this.#closing
  }

  /** The server begins to close; false when it already had. */
  close(): boolean {
    if (this.#closing) return false
    this.#closing = true
    return true
  }

  /** A connection arrives at `now` (ms) with `open` connections open. */
  admit(open: number, now: number): Admission {
    if (this.#closing) return { kind: 'drop' }
    if (open < this.maxConnections) return { kind: 'serve' }
    this.#refusedSinceLog++
    if (now - this.#lastLogAt < this.logEveryMs) return { kind: 'refuse' }
    const refused = this.#refusedSinceLog
    this.#lastLogAt = now
    this.#refusedSinceLog = 0
    return { kind: 'refuse', log: { refused } }
  }
}
