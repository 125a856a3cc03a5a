/**
 * What the running services say, when they can be reached: the primary's
 * GET /v1/status (controllers' next seq, latest time, sidefile depth,
 * Kafka state) and the mover's and applier's GET /health (state, halt
 * reason). A service that does not answer is reported as such, never
 * guessed at.
 */
import { errorMessage } from '../../lib/errors.js'
import type { NbdStatus, PrimaryStatus } from '../../producer/index.js'
import { fetchPrimary, type PrimaryEndpoint } from '../primaryClient.js'

export type Reached<T> = { url: string; reachable: true; body: T } | { url: string; reachable: false; reason: string }

/** GET `url` (through `get`, which may add the primary's token) as JSON; a refusal's own message in the reason. */
async function getJson<T>(
  url: string,
  timeoutMs: number,
  get = (init: RequestInit): Promise<Response> => fetch(url, init),
): Promise<Reached<T>> {
  try {
    const res = await get({ signal: AbortSignal.timeout(timeoutMs) })
    // /health answers 503 with its report when the service is halted
    if (!res.ok && res.status !== 503) {
      const body = (await res.json().catch(() => ({}))) as { message?: string }
      return { url, reachable: false, reason: `answered HTTP ${res.status}${body.message ? `: ${body.message}` : ''}` }
    }
    return { url, reachable: true, body: (await res.json()) as T }
  } catch (err) {
    const code = (err as { cause?: { code?: string } }).cause?.code
    return { url, reachable: false, reason: code === 'ECONNREFUSED' ? 'nothing listens there' : errorMessage(err) }
  }
}

export function primaryStatus(primary: PrimaryEndpoint, timeoutMs = 2000): Promise<Reached<PrimaryStatus>> {
  return getJson<PrimaryStatus>(`${primary.url}/v1/status`, timeoutMs, (init) =>
    fetchPrimary(primary, '/v1/status', init),
  )
}

/** The primary's NBD exports, connections and write rates (GET /v1/nbd). */
export function primaryNbd(primary: PrimaryEndpoint, timeoutMs = 2000): Promise<Reached<NbdStatus>> {
  return getJson<NbdStatus>(`${primary.url}/v1/nbd`, timeoutMs, (init) => fetchPrimary(primary, '/v1/nbd', init))
}

/** A mover's or applier's health report (lib/metrics.ts HealthReport plus the service's status fields). */
export interface HealthBody {
  status: string
  state?: string
  halt?: { code?: string; message: string }
  [key: string]: unknown
}

export function serviceHealth(baseUrl: string, timeoutMs = 2000): Promise<Reached<HealthBody>> {
  return getJson<HealthBody>(`${baseUrl}/health`, timeoutMs)
}
