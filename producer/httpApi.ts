/**
 * The primary's HTTP API, so users, the CLI and tests can write and read
 * blocks from another process. Listens on producer.apiHost (127.0.0.1) at
 * producer.apiPort. Every request's Host header must name the API, and with
 * producer.apiToken set every request but /health and /metrics carries
 * `Authorization: Bearer <token>` (./apiAccess.ts: 403 and 401 otherwise);
 * an address other than loopback without a token does not start.
 *
 *   POST /v1/volumes/:volume/blocks/:block[?after=<µs>]   body = whole blocks
 *        200 {"controller":0,"seq":17,"time":1732262400000123}
 *   GET  /v1/volumes/:volume/blocks/:block[?count=<n>]     200 application/octet-stream; at most
 *        producer.apiMaxReadBytes (400 XRC_USAGE naming it beyond)
 *   GET  /v1/volumes/:volume/codes?from=<segment>&count=<n>[&since=<µs>]
 *        200 {"volume","segmentBlocks","segments","codes":[{"segment","code","lastWrite"}],"next"}: the codes of
 *        at most 64 segments (session.segmentBlocks blocks each, SHA-256 hex: lib/segmentCodes.ts) and the time
 *        of each one's last write; `next` is the segment to ask for next (absent at the end). With `since`,
 *        only the segments written after that time are listed, without codes, and no data is read.
 *   GET  /v1/status    200 the primary's status (JSON), its suspend/resync state under "mirror"
 *   GET  /v1/nbd       200 the NBD server's exports, connections and write rates (404 without one)
 *   POST /v1/suspend   200 suspends the session (writes go on, marked for resync); the mirror's status
 *   POST /v1/resume    200 starts the resync (503 XRC_SIDEFILE_FULL: no sidefile room for the window's begin)
 *   POST /v1/rebase    200 {"blocks","volumeBlocks"}: after a lost journal or updates topic, suspends and
 *                      marks every block not confirmed applied on the secondary (xrc resync)
 *   POST /v1/quiesce   200 {"quiesced":true,"time"}: host writes refused (503 XRC_CLOSED) from now, those in
 *                      progress finished; every acknowledged write has a time <= "time" (xrc failback)
 *   POST /v1/unquiesce 200 {"quiesced":false}: host writes taken again
 *   GET  /health       200 (503 when halted) health report
 *   GET  /metrics      Prometheus text
 *
 * Errors answer {"code": "XRC_...", "message": "..."} with the status the
 * error catalogue gives the code (lib/errors.ts: 400 bad request, 404
 * unknown volume or path, 401 no or another token, 403 a Host not of this
 * API, 413 too large, 503 with Retry-After when trying
 * again can succeed), 405 for a wrong method, 500 for anything that is not an
 * XrcError. `time` is the causal token: pass it as `after` on a dependent
 * write, on any controller, to order that write after this one.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { XrcError, errorMessage, isXrcError } from '../lib/errors.js'
import type { Logger } from '../lib/logger.js'
import { healthStatusCode } from '../lib/metrics.js'
import { OPEN_PATHS, apiAccess, checkHost, checkToken, clientHost } from './apiAccess.js'
import type { Primary } from './primary.js'

export interface HttpApiOptions {
  primary: Pick<
    Primary,
    | 'write'
    | 'read'
    | 'segmentCodes'
    | 'segmentLayout'
    | 'status'
    | 'health'
    | 'registry'
    | 'maxWriteBytes'
    | 'blockSize'
    | 'suspend'
    | 'resume'
    | 'rebase'
    | 'quiesce'
    | 'unquiesce'
  >
  /** 0 = any free port. */
  port: number
  /** Address to listen on (producer.apiHost); default 127.0.0.1. Not loopback needs `token`. */
  host?: string
  /** The bearer token every request but /health and /metrics must carry (producer.apiToken); none by default. */
  token?: string | undefined
  /** Host header names accepted besides localhost, 127.0.0.1, [::1] and `host` (producer.apiAllowedHosts). */
  allowedHosts?: readonly string[]
  /** Most bytes one block read returns (producer.apiMaxReadBytes); default DEFAULT_MAX_READ_BYTES. */
  maxReadBytes?: number
  logger: Logger
  /** The NBD front end, when the primary serves one (GET /v1/nbd). */
  nbd?: { status(): unknown }
}

/** Segments whose codes one request computes at most (64 MiB of reads with 1 MiB segments). */
export const MAX_CODES_PER_REQUEST = 64

/** producer.apiMaxReadBytes's default: most block bytes one read returns. */
export const DEFAULT_MAX_READ_BYTES = 16 * 1024 * 1024

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
  '/v1/quiesce': async (p) => ({ quiesced: true, ...(await p.quiesce()) }),
  '/v1/unquiesce': (p) => {
    p.unquiesce()
    return Promise.resolve({ quiesced: false })
  },
}

/** What a 401 asks for (RFC 6750). */
const BEARER_CHALLENGE = 'Bearer realm="xrc primary"'

const BLOCK_PATH = /^\/v1\/volumes\/([^/]+)\/blocks\/([^/]+)$/
const CODES_PATH = /^\/v1\/volumes\/([^/]+)\/codes$/

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

/** GET /v1/volumes/:volume/codes: one page of codes (see the file comment). */
async function segmentCodesAnswer(options: HttpApiOptions, volume: string, url: URL): Promise<unknown> {
  const layout = options.primary.segmentLayout
  const v = layout.volumes.find((x) => x.name === volume)
  if (v === undefined) throw new XrcError('XRC_NOT_FOUND', { reason: 'path', path: url.pathname })
  const segments = Math.ceil(v.blocks / layout.segmentBlocks)
  const from = integer(url.searchParams.get('from') ?? '0', 'from')
  const count = Math.min(integer(url.searchParams.get('count') ?? '1', 'count'), MAX_CODES_PER_REQUEST)
  const since = url.searchParams.get('since')
  const codes = await options.primary.segmentCodes(volume, from, count)
  const end = from + codes.length
  const listed = since === null ? codes : codes.filter((c) => c.lastWrite > integer(since, 'since'))
  return {
    volume,
    segmentBlocks: layout.segmentBlocks,
    segments,
    codes: listed,
    ...(end < segments ? { next: end } : {}),
  }
}

/** The blocks one read asks for, refused (400, naming the limit) beyond `maxReadBytes`. */
function readCount(url: URL, blockSize: number, maxReadBytes: number): number {
  const count = integer(url.searchParams.get('count') ?? '1', 'count')
  const maxBlocks = Math.max(1, Math.floor(maxReadBytes / blockSize))
  if (count > maxBlocks) {
    const bytes = count * blockSize
    throw new XrcError('XRC_USAGE', {
      reason: 'readTooLarge',
      count,
      blockSize,
      bytes,
      maxBytes: maxReadBytes,
      maxBlocks,
    })
  }
  return count
}

export async function startHttpApi(options: HttpApiOptions): Promise<HttpApi> {
  const { primary } = options
  const log = options.logger.child({ component: 'http-api' })
  const host = options.host ?? '127.0.0.1'
  const maxReadBytes = options.maxReadBytes ?? DEFAULT_MAX_READ_BYTES
  // before listening: an address other than loopback without a token refuses to start
  const access = apiAccess({ listenHost: host, token: options.token, allowedHosts: options.allowedHosts ?? [] })

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    checkHost(access, req.headers.host)
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (!OPEN_PATHS.has(url.pathname)) checkToken(access, req.headers.authorization)
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
        const count = readCount(url, primary.blockSize, maxReadBytes)
        const data = await primary.read(volume, block, count)
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(data.length) })
        res.end(data)
        return
      }
      return notAllowed(res, req.method, url.pathname, ['GET', 'POST'])
    }
    const codes = CODES_PATH.exec(url.pathname)
    if (codes) {
      if (req.method !== 'GET') return notAllowed(res, req.method, url.pathname, ['GET'])
      return sendJson(res, 200, await segmentCodesAnswer(options, decode(codes[1] as string, 'volume'), url))
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
      return sendJson(res, healthStatusCode(h), h)
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
        status === 503 ? { 'retry-after': '1' } : status === 401 ? { 'www-authenticate': BEARER_CHALLENGE } : {},
      )
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : options.port
  log.info({ port, host, tokenRequired: access.token !== undefined }, 'HTTP API listening')
  return {
    port,
    url: `http://${clientHost(host)}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()))
        server.closeAllConnections()
      }),
  }
}
