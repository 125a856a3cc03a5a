/**
 * A WriteTarget that drives a primary through its HTTP API (another
 * process: `xrc primary`), so a workload survives the primary being killed.
 */
import { XrcError } from '../lib/errors.js'
import { fetchPrimary, primaryEndpoint, primaryRefusal } from '../cli/primaryClient.js'
import type { WriteAck, WriteTarget } from './dependentWrites.js'

/** `token`: the primary's producer.apiToken, when it asks for one. */
export function httpWriteTarget(baseUrl: () => string, timeoutMs = 10_000, token?: string): WriteTarget {
  return {
    async write({ volume, block, data, after }) {
      const query = after !== undefined ? `?after=${after}` : ''
      const path = `/v1/volumes/${encodeURIComponent(volume)}/blocks/${block}${query}`
      const primary = primaryEndpoint(baseUrl(), token)
      const url = `${primary.url}${path}`
      let res: Response
      try {
        res = await fetchPrimary(primary, path, {
          method: 'POST',
          body: data,
          headers: { 'content-type': 'application/octet-stream' },
          signal: AbortSignal.timeout(timeoutMs),
        })
      } catch (err) {
        // nothing listens: the write was certainly not taken (not in doubt)
        const refused = (err as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED'
        throw new XrcError(
          'XRC_PRIMARY_UNREACHABLE',
          { reason: 'write', volume, block, cause: err },
          { context: { notWritten: refused } },
        )
      }
      const body = (await res.json()) as WriteAck & { code?: string; message?: string }
      if (res.status !== 200)
        throw primaryRefusal(url, res.status, body, { retriable: res.status === 503, context: { notWritten: true } })
      return { controller: body.controller, seq: body.seq, time: body.time }
    },
  }
}
