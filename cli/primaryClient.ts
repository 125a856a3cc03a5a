/**
 * The CLI's client of a running primary's HTTP API (producer/httpApi.ts):
 * block writes and reads. Nothing listening becomes one clear
 * XRC_PRIMARY_UNREACHABLE saying how to start a primary; an error answer
 * keeps the primary's own code and message.
 */
import type { Config } from '../lib/config.js'
import { XrcError, errorMessage, type XrcErrorOptions } from '../lib/errors.js'
import { hideSecret } from '../lib/secrets.js'
import { clientHost } from '../producer/apiAccess.js'
import type { PrimarySegmentCode, WriteAck } from '../producer/index.js'

/** A primary's HTTP API as a client reaches it: its base URL and the bearer token it asks for. */
export interface PrimaryEndpoint {
  readonly url: string
  /** producer.apiToken, non-enumerable (lib/secrets.ts); undefined = none sent. */
  readonly token?: string
}

/** An endpoint whose token no log, JSON or error shows. */
export function primaryEndpoint(url: string, token?: string): PrimaryEndpoint {
  return Object.freeze(hideSecret({ url: url.replace(/\/+$/, '') }, 'token', token))
}

/**
 * The primary a command addresses: the --primary URL, else the configured
 * producer.apiPort on producer.apiHost (loopback when it listens on every
 * address), with the configured token (XRC_PRIMARY_API_TOKEN). Undefined
 * when there is no URL and the port is 0 (any free port).
 */
export function configuredPrimary(config: Config, url?: string): PrimaryEndpoint | undefined {
  const { apiHost, apiPort, apiToken } = config.producer
  if (url !== undefined) return primaryEndpoint(url, apiToken)
  if (apiPort === 0) return undefined
  return primaryEndpoint(`http://${clientHost(apiHost)}:${apiPort}`, apiToken)
}

/** fetch() of `path` at the primary, with its bearer token when it has one. */
export function fetchPrimary(primary: PrimaryEndpoint, path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers)
  if (primary.token !== undefined) headers.set('authorization', `Bearer ${primary.token}`)
  return fetch(`${primary.url}${path}`, { ...init, headers })
}

/**
 * The primary's quiesce and unquiesce (POST /v1/quiesce and /v1/unquiesce), as a failback drives them: an
 * answer other than 2xx is XRC_FAILOVER_REFUSED (quiesceFailed) naming the path, the status and the body.
 */
export function primaryQuiesce(
  primary: PrimaryEndpoint,
  session: string,
  timeoutMs = 120_000,
): { quiesce(): Promise<{ time: number }>; unquiesce(): Promise<void> } {
  const post = async (path: string): Promise<unknown> => {
    const res = await fetchPrimary(primary, path, { method: 'POST', signal: AbortSignal.timeout(timeoutMs) })
    const body = (await res.json()) as unknown
    if (!res.ok)
      throw new XrcError('XRC_FAILOVER_REFUSED', {
        reason: 'quiesceFailed',
        session,
        url: primary.url,
        detail: `${path} answered ${res.status}: ${JSON.stringify(body)}`,
      })
    return body
  }
  return {
    quiesce: async () => (await post('/v1/quiesce')) as { time: number },
    unquiesce: async () => {
      await post('/v1/unquiesce')
    },
  }
}

/** One page of the primary's segment codes (GET /v1/volumes/:volume/codes). */
export interface CodesPage {
  segmentBlocks: number
  segments: number
  codes: PrimarySegmentCode[]
  next?: number
}

export interface PrimaryClient {
  readonly url: string
  write(volume: string, block: number, data: Buffer, after?: number): Promise<WriteAck>
  read(volume: string, block: number, count: number): Promise<Buffer>
  segmentCodes(volume: string, from: number, count: number): Promise<CodesPage>
}

/** A request to the primary at `url` that failed before any answer, as XRC_PRIMARY_UNREACHABLE. */
export function primaryUnreachable(url: string, err: unknown): XrcError {
  const code = (err as { cause?: { code?: string } }).cause?.code
  const why = code === 'ECONNREFUSED' ? 'nothing listens there' : errorMessage(err)
  return new XrcError('XRC_PRIMARY_UNREACHABLE', { url, why }, { cause: err })
}

/** An error answer of the primary: its own code (when known) and message, naming where it came from. */
export function primaryRefusal(
  url: string,
  status: number,
  body: { code?: string; message?: string },
  options: XrcErrorOptions = {},
): XrcError {
  const message = `the primary at ${url} answered ${status}: ${body.message ?? 'no message'}`
  return XrcError.rendered(body.code, message, 'XRC_USAGE', {
    ...options,
    context: { url, status, ...options.context },
  })
}

export function primaryClient(primary: PrimaryEndpoint, timeoutMs = 30_000): PrimaryClient {
  const { url } = primary
  async function call(path: string, init: RequestInit): Promise<Response> {
    let res: Response
    try {
      res = await fetchPrimary(primary, path, { ...init, signal: AbortSignal.timeout(timeoutMs) })
    } catch (err) {
      throw primaryUnreachable(url, err)
    }
    if (res.ok) return res
    const body = (await res.json().catch(() => ({}))) as { code?: string; message?: string }
    throw primaryRefusal(url, res.status, body)
  }
  const blockPath = (volume: string, block: number): string =>
    `/v1/volumes/${encodeURIComponent(volume)}/blocks/${block}`
  return {
    url,
    async write(volume, block, data, after) {
      const res = await call(`${blockPath(volume, block)}${after !== undefined ? `?after=${after}` : ''}`, {
        method: 'POST',
        body: data,
        headers: { 'content-type': 'application/octet-stream' },
      })
      return (await res.json()) as WriteAck
    },
    async read(volume, block, count) {
      const res = await call(`${blockPath(volume, block)}?count=${count}`, { method: 'GET' })
      return Buffer.from(await res.arrayBuffer())
    },
    async segmentCodes(volume, from, count) {
      const res = await call(`/v1/volumes/${encodeURIComponent(volume)}/codes?from=${from}&count=${count}`, {
        method: 'GET',
      })
      return (await res.json()) as CodesPage
    },
  }
}
