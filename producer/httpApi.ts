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
 * Errors answer {"code": "XRC_...", "message": "..."} with the status the
 * error catalogue gives the code (lib/errors.ts: 400 bad request, 404
 * unknown volume or path, 413 too large, 503 with Retry-After when trying
 * again can succeed), 405 for a wrong method, 500 for anything that is not an
 * XrcError. `time` is the causal token: pass it as `after` on a dependent
 * write, on any controller, to order that write after this one.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { XrcError, errorMessage, isXrcError } from '../lib/errors.js'
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
  if (!Number.isSafeInteger(n)) throw new XrcError('XRC_INVALID_RECORD', { reason: 'notInteger', what, value })
  return n
}

function decode(value: string, what: string): string {
  try {
    return decodeURIComponent(value)
  } catch {
    throw new XrcError('XRC_INVALID_RECORD', { reason: 'notPercentEncoded', what, value })
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(text)
}

/** Answers 405, naming the methods `path` takes. */
function notAllowed(res: ServerResponse, method: string | undefined, path: string, allowed: string[]): void {
  const use = allowed.join(' or ')
  const err = new XrcError('XRC_USAGE', { reason: 'methodNotAllowed', method: method ?? '', path, use })
  sendJson(res, 405, { code: err.code, message: err.message }, { allow: allowed.join(', ') })
}

/** Reads the request body, refusing (413) more than `limit` bytes without buffering them. */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? Number.NaN)
  const tooLarge = (bytes: number): XrcError =>
    new XrcError('XRC_RECORD_TOO_LARGE', { reason: 'write', bytes, maxBytes: limit })
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
      return notAllowed(res, req.method, url.pathname, ['GET', 'POST'])
    }
    const action = MIRROR_ACTIONS[url.pathname]
    if (action !== undefined) {
      if (req.method !== 'POST') return notAllowed(res, req.method, url.pathname, ['POST'])
      const body = await action(primary)
      log.info({ action: url.pathname }, 'operator action')
      return sendJson(res, 200, body)
    }
    if (req.method !== 'GET') return notAllowed(res, req.method, url.pathname, ['GET'])
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
    throw new XrcError('XRC_NOT_FOUND', { reason: 'path', path: url.pathname })
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy()
        return
      }
      const status = isXrcError(err) ? err.status : 500
      // a 503 is the primary busy or going away, answered with Retry-After; any other 5xx is worth a look
      if (status >= 500 && status !== 503) log.error({ err, method: req.method, url: req.url }, 'request failed')
      // a refused body is not read to its end: close the connection rather than drain it
      if (status === 413) res.setHeader('connection', 'close')
      sendJson(
        res,
        status,
        isXrcError(err) ? { code: err.code, message: err.message } : { message: errorMessage(err) },
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
