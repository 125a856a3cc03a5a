/**
 * Who may use the primary's HTTP API (producer/httpApi.ts), as pure checks
 * with no I/O:
 *
 * - Listening: an address other than loopback without a token is refused at
 *   start-up (XRC_API_UNPROTECTED). The API writes blocks: a storage
 *   operator would rather the primary not start than take writes from the
 *   network unauthenticated, and a warning in a log nobody reads protects
 *   nothing.
 * - Host: the Host header must be one of the API's names (localhost,
 *   127.0.0.1, [::1], the listen address, producer.apiAllowedHosts), so a web
 *   page whose DNS name was rebound to 127.0.0.1 cannot talk to it from a
 *   browser (XRC_API_HOST_REFUSED, 403).
 * - Token: with producer.apiToken set, every request but /health and
 *   /metrics carries `Authorization: Bearer <token>` (XRC_API_UNAUTHORIZED,
 *   401). The comparison takes the same time whatever the token sent.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import { isIP } from 'node:net'
import { XrcError } from '../lib/errors.js'
import { hideSecret } from '../lib/secrets.js'

/** Paths anyone who reaches the API may read: health checks and Prometheus need no token. */
export const OPEN_PATHS: ReadonlySet<string> = new Set(['/health', '/metrics'])

/** The names every API answers to. */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]']

export interface ApiAccess {
  /** Host header values (lower case, without port) the API accepts. */
  readonly hosts: ReadonlySet<string>
  /** The bearer token, non-enumerable; undefined = none asked. */
  readonly token?: string
}

/** True when `host` is a loopback address or localhost (only this machine reaches it). */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1')
  if (h === 'localhost' || h === '::1') return true
  return isIP(h) === 4 && h.startsWith('127.')
}

/** A host name or address as a Host header carries it: lower case, an IPv6 address in brackets. */
export function hostName(host: string): string {
  const h = host.toLowerCase()
  return isIP(h) === 6 ? `[${h}]` : h
}

/** The host a client of an API listening on `listenHost` connects to: loopback for a wildcard address. */
export function clientHost(listenHost: string): string {
  if (listenHost === '0.0.0.0') return '127.0.0.1'
  if (['::', '[::]'].includes(listenHost)) return '[::1]'
  return hostName(listenHost)
}

/**
 * The access rules of an API listening on `listenHost`; throws
 * XRC_API_UNPROTECTED when that is not loopback and there is no token.
 */
export function apiAccess(options: {
  listenHost: string
  token?: string | undefined
  allowedHosts?: readonly string[]
}): ApiAccess {
  const { listenHost, token } = options
  if (token === undefined && !isLoopback(listenHost))
    throw new XrcError('XRC_API_UNPROTECTED', { host: listenHost, setting: 'producer.apiToken' })
  const hosts = new Set([...LOOPBACK_NAMES, ...(options.allowedHosts ?? []).map(hostName)])
  // a wildcard address is no name a client uses; a specific one is
  if (!['0.0.0.0', '::', '[::]'].includes(listenHost)) hosts.add(hostName(listenHost))
  return hideSecret({ hosts }, 'token', token)
}

/** The host part of a Host header value (`name`, `name:port`, `[v6]:port`), lower case. */
export function hostOfHeader(header: string): string {
  const h = header.trim().toLowerCase()
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1)
  const colon = h.lastIndexOf(':')
  return colon === -1 ? h : h.slice(0, colon)
}

/** Throws XRC_API_HOST_REFUSED unless `header` (the request's Host) names this API. */
export function checkHost(access: ApiAccess, header: string | undefined): void {
  const accepted = [...access.hosts]
  if (header === undefined || header === '') throw new XrcError('XRC_API_HOST_REFUSED', { reason: 'missing', accepted })
  const host = hostOfHeader(header)
  if (!access.hosts.has(host)) throw new XrcError('XRC_API_HOST_REFUSED', { host, accepted })
}

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest()

/**
 * Throws XRC_API_UNAUTHORIZED unless `authorization` (the request's header)
 * is `Bearer <the token>`; nothing asked when the API has no token. Both
 * sides are hashed first, so the comparison's time says nothing of the
 * token's length or of how much of it matched.
 */
export function checkToken(access: ApiAccess, authorization: string | undefined): void {
  const token = access.token
  if (token === undefined) return
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '')
  if (!m) throw new XrcError('XRC_API_UNAUTHORIZED', { reason: 'missing' })
  if (!timingSafeEqual(digest(m[1] as string), digest(token)))
    throw new XrcError('XRC_API_UNAUTHORIZED', { reason: 'wrong' })
}
