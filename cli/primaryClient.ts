/**
 * The CLI's client of a running primary's HTTP API (producer/httpApi.ts):
 * block writes and reads. Nothing listening becomes one clear
 * XRC_PRIMARY_UNREACHABLE saying how to start a primary; an error answer
 * keeps the primary's own code and message.
 */
import { ERROR_CODES, XrcError, errorMessage, type ErrorCode } from '../lib/errors.js'
import type { WriteAck } from '../producer/index.js'

export interface PrimaryClient {
  readonly url: string
  write(volume: string, block: number, data: Buffer, after?: number): Promise<WriteAck>
  read(volume: string, block: number, count: number): Promise<Buffer>
}

export function primaryClient(url: string, timeoutMs = 30_000): PrimaryClient {
  async function call(path: string, init: RequestInit): Promise<Response> {
    let res: Response
    try {
      res = await fetch(`${url}${path}`, { ...init, signal: AbortSignal.timeout(timeoutMs) })
    } catch (err) {
      const code = (err as { cause?: { code?: string } }).cause?.code
      const why = code === 'ECONNREFUSED' ? 'nothing listens there' : errorMessage(err)
      throw new XrcError(
        'XRC_PRIMARY_UNREACHABLE',
        `no primary answers at ${url} (${why}): start one with \`xrc primary\` (same --config), or pass --primary <url> if it listens elsewhere`,
        { cause: err },
      )
    }
    if (res.ok) return res
    const body = (await res.json().catch(() => ({}))) as { code?: string; message?: string }
    const code: ErrorCode = body.code !== undefined && body.code in ERROR_CODES ? (body.code as ErrorCode) : 'XRC_USAGE'
    throw new XrcError(code, `the primary at ${url} refused: ${body.message ?? `HTTP ${res.status}`}`)
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
