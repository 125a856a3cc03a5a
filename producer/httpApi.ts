/**
 * The primary's HTTP API, so users, the CLI and tests can write and read
 * blocks from another process. Listens on 127.0.0.1 (producer.apiPort).
 *
 *   POST /v1/volumes/:volume/blocks/:block[?after=<µs>]   body = whole blocks
 *        200 {"controller":0,"seq":17,"time":1732262400000123}
 *   GET  /v1/volumes/:volume/blocks/:block[?count=<n>]     200 application/octet-stream
 *   GET  /v1/status    200 the primary's status (JSON), its suspend/resync state under "mirror"
 *   GET  /v1/nbd       200 the NBD server's exports, connections and write rates (404 without one)
 *   POST /v1/suspend   200 suspends the session (writes go on, marked for resync); the mirror's status
 *   POST /v1/resume    200 starts the resync (503 XRC_SIDEFILE_FULL: no sidefile room for the window's begin)
 *   POST /v1/rebase    200 {"blocks","volumeBlocks"}: after a lost journal or updates topic, suspends and
 *                      marks every block not confirmed applied on the secondary (xrc resync)
 *   GET  /health       200 (503 when halted) health report
 *   GET  /metrics      Prometheus text
 *
 * Errors answer {"code": "XRC_...", "message": "..."}: 400 bad request
 * (XRC_INVALID_RECORD, XRC_USAGE), 404 unknown volume or path
 * (XRC_NOT_FOUND), 405 wrong method, 413 XRC_RECORD_TOO_LARGE, 503 with
 * Retry-After for XRC_SIDEFILE_FULL and XRC_CLOSED (try again), 500 for
 * anything else. `time` is the causal token: pass it as `after` on a
 * dependent write, on any controller, to order that write after this one.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { XrcError, errorMessage, isXrcError, type ErrorCode } from '../lib/errors.js'
import type { Logger } from '../lib/logger.js'
import type { Primary } from './primary.js'

export interface HttpApiOptions {
  primary: Pick<
    Primary,
    'write' | 'read' | 'status' | 'health' | 'registry' | 'maxWriteBytes' | 'suspend' | 'resume' | 'rebase'
  >
  /** 0 = any free port. */
  port: number
  host?: string
  logger: Logger
  /** The NBD front end, when the primary serves one (GET /v1/nbd). */
  nbd?: { status(): unknown }
}

export interface HttpApi {
  readonly port: number
  /** Base URL, e.g. http://127.0.0.1:7070 */
  readonly url: string
  close(): Promise<void>
}

const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  XRC_INVALID_RECORD: 400,
  XRC_USAGE: 400,
  XRC_NOT_FOUND: 404,
  XRC_RECORD_TOO_LARGE: 413,
  XRC_SIDEFILE_FULL: 503,
  XRC_CLOSED: 503,
  XRC_POSTGRES_UNREACHABLE: 503,
}

/** Operator actions on the session's mirroring (POST). */
const MIRROR_ACTIONS: Record<string, (primary: HttpApiOptions['primary']) => Promise<unknown>> = {
  '/v1/suspend': (p) => p.suspend(),
  '/v1/resume': (p) => p.resume(),
  '/v1/rebase': (p) => p.rebase(),
}

const BLOCK_PATH = /^\/v1\/volumes\/([^/]+)\/blocks\/([^/]+)$/

/** Parses a non-negative decimal integer query or path value; XRC_INVALID_RECORD naming `what` otherwise. */
function integer(value: string, what: string): number {
  const n = /^\d{1,16}$/.test(value) ? Number(value) : Number.NaN
  if (!Number.isSafeInteger(n))
    throw new XrcError('XRC_INVALID_RECORD', `${what} must be a non-negative integer, got "${value}"`)
  return n
}

function decode(value: string, what: string): string {
  try {
    return decodeURIComponent(value)
  } catch {
    throw new XrcError('XRC_INVALID_RECORD', `${what} is not valid percent-encoding: "${value}"`)
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(text)
}

/** Reads the request body, refusing (413) more than `limit` bytes without buffering them. */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? Number.NaN)
  const tooLarge = (n: number): XrcError =>
    new XrcError(
      'XRC_RECORD_TOO_LARGE',
      `a write of ${n} bytes exceeds the largest one record set carries (${limit} bytes)`,
    )
  if (declared > limit) throw tooLarge(declared)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) throw tooLarge(size)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks, size)
}

export async function startHttpApi(options: HttpApiOptions): Promise<HttpApi> {
  const { primary } = options
  const log = options.logger.child({ component: 'http-api' })

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const m = BLOCK_PATH.exec(url.pathname)
    if (m) {
      const volume = decode(m[1] as string, 'volume')
      const block = integer(decode(m[2] as string, 'block'), 'block')
      if (req.method === 'POST' || req.method === 'PUT') {
        const afterParam = url.searchParams.get('after')
        const data = await readBody(req, primary.maxWriteBytes)
        const ack = await primary.write({
          volume,
          block,
          data,
          ...(afterParam !== null ? { after: integer(afterParam, 'after') } : {}),
        })
        return sendJson(res, 200, ack)
      }
      if (req.method === 'GET') {
        const count = integer(url.searchParams.get('count') ?? '1', 'count')
        const data = await primary.read(volume, block, count)
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(data.length) })
        res.end(data)
        return
      }
      return sendJson(
        res,
        405,
        { code: 'XRC_USAGE', message: `${req.method} is not allowed on ${url.pathname}: use GET or POST` },
        { allow: 'GET, POST' },
      )
    }
    const action = MIRROR_ACTIONS[url.pathname]
    if (action !== undefined) {
      if (req.method !== 'POST')
        return sendJson(
          res,
          405,
          { code: 'XRC_USAGE', message: `${req.method} is not allowed on ${url.pathname}: use POST` },
          { allow: 'POST' },
        )
      const body = await action(primary)
      log.info({ action: url.pathname }, 'operator action')
      return sendJson(res, 200, body)
    }
    if (req.method !== 'GET')
      return sendJson(
        res,
        405,
        { code: 'XRC_USAGE', message: `${req.method} is not allowed on ${url.pathname}` },
        { allow: 'GET' },
      )
    if (url.pathname === '/v1/status') return sendJson(res, 200, primary.status())
    if (url.pathname === '/v1/nbd' && options.nbd) return sendJson(res, 200, options.nbd.status())
    if (url.pathname === '/health') {
      const h = primary.health()
      return sendJson(res, h.status === 'halted' ? 503 : 200, h)
    }
    if (url.pathname === '/metrics') {
      const body = await primary.registry.metrics()
      res.writeHead(200, { 'content-type': primary.registry.contentType })
      res.end(body)
      return
    }
    sendJson(res, 404, { code: 'XRC_NOT_FOUND', message: `no such path ${url.pathname}` })
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy()
        return
      }
      const code = isXrcError(err) ? err.code : undefined
      const status = (code && STATUS_OF[code]) ?? 500
      if (status === 500) log.error({ err, method: req.method, url: req.url }, 'request failed')
      // a refused body is not read to its end: close the connection rather than drain it
      if (status === 413) res.setHeader('connection', 'close')
      sendJson(
        res,
        status,
        code ? { code, message: errorMessage(err) } : { message: errorMessage(err) },
        status === 503 ? { 'retry-after': '1' } : {},
      )
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host ?? '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : options.port
  const host = options.host ?? '127.0.0.1'
  log.info({ port, host }, 'HTTP API listening')
  return {
    port,
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()))
        server.closeAllConnections()
      }),
  }
}
