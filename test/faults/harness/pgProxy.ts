/**
 * A TCP proxy between a client and PostgreSQL that cuts one connection in
 * the middle of a COMMIT: it reads the frontend's messages (the untyped
 * startup message, then type byte + int32 length + body) and, at the n-th
 * simple-query "COMMIT" it sees,
 *   mode 'before': destroys both sides before forwarding it (the server
 *                  rolls the transaction back; the client cannot know), or
 *   mode 'after':  forwards it and destroys both sides as the server's
 *                  answer arrives, without passing it on (the transaction
 *                  committed; the client cannot know).
 * Either way the client sees its COMMIT fail with a connection error.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'

export type CommitCut = 'before' | 'after'

export interface PgProxy {
  port: number
  /** Cuts the connection at the n-th COMMIT from now (1 = the next). */
  arm(mode: CommitCut, nth: number): void
  /** COMMITs cut so far. */
  cuts(): number
  /** COMMITs seen so far (cut or not). */
  commits(): number
  close(): Promise<void>
}

const COMMIT = Buffer.from('COMMIT\0')

export async function startPgProxy(target: { host: string; port: number }): Promise<PgProxy> {
  let armed: { mode: CommitCut; at: number } | undefined
  let commits = 0
  let cuts = 0
  const sockets = new Set<Socket>()

  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host)
    // no Nagle: small protocol messages would each wait for a delayed ACK (40 ms a round trip)
    client.setNoDelay(true)
    upstream.setNoDelay(true)
    sockets.add(client).add(upstream)
    let buffered = Buffer.alloc(0)
    let started = false
    let cutAfterAnswer = false
    const cut = (): void => {
      cuts++
      client.destroy()
      upstream.destroy()
    }
    client.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      // forward whole messages only, so a COMMIT is recognised before any of it is sent on
      for (;;) {
        const typed = started ? 1 : 0
        if (buffered.length < typed + 4) return
        const length = buffered.readInt32BE(typed)
        if (buffered.length < typed + length) return
        const message = buffered.subarray(0, typed + length)
        buffered = buffered.subarray(typed + length)
        // the SSL request and the startup message are untyped; the first typed message follows the startup
        if (!started && message.readInt32BE(4) !== 80877103) started = true
        if (started && typed === 1 && message[0] === 0x51 && message.subarray(5).equals(COMMIT)) {
          commits++
          if (armed !== undefined && commits >= armed.at) {
            const mode = armed.mode
            armed = undefined
            if (mode === 'before') return cut()
            cutAfterAnswer = true
          }
        }
        upstream.write(message)
      }
    })
    upstream.on('data', (chunk: Buffer) => {
      if (cutAfterAnswer) return cut()
      client.write(chunk)
    })
    const end = (): void => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on('close', end).on('error', end)
    upstream.on('close', end).on('error', end)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const addr = server.address()
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    arm(mode, nth) {
      armed = { mode, at: commits + nth }
    },
    cuts: () => cuts,
    commits: () => commits,
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
