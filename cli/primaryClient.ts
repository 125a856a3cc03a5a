/**
 * The CLI's client of a running primary's HTTP API (producer/httpApi.ts):
 * block writes and reads. Nothing listening becomes one clear
 * XRC_PRIMARY_UNREACHABLE saying how to start a primary; an error answer
 * keeps the primary's own code and message.
 */
import { XrcError, errorMessage, type XrcErrorOptions } from '../lib/errors.js'
import type { WriteAck } from '../producer/index.js'

export interface PrimaryClient {
  readonly url: string
  write(volume: string, block: number, data: Buffer, after?: number): Promise<WriteAck>
  read(volume: string, block: number, count: number): Promise<Buffer>
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

export function primaryClient(url: string, timeoutMs = 30_000): PrimaryClient {
  async function call(path: string, init: RequestInit): Promise<Response> {
    let res: Response
    try {
      res = await fetch(`${url}${path}`, { ...init, signal: AbortSignal.timeout(timeoutMs) })
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
  }
}
