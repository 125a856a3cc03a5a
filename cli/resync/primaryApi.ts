/**
 * The CLI's side of the primary's operator API (producer/httpApi.ts):
 * suspend, resume, rebase, and following a resync's progress until it ends.
 */
import { XrcError } from '../../lib/errors.js'
import type { Config } from '../../lib/config.js'
import {
  configuredPrimary,
  fetchPrimary,
  primaryEndpoint,
  primaryRefusal,
  primaryUnreachable,
} from '../primaryClient.js'
import type { PrimaryEndpoint } from '../primaryClient.js'
import type { MirrorStatus } from '../../producer/index.js'
import type { PrimaryStatus } from '../../producer/index.js'
import { formatMs } from '../format.js'
import { progressBar, type ProgressOutput } from '../progress.js'

/**
 * The primaries to address: the --primary URLs, else the configured API
 * (producer.apiHost, producer.apiPort); each with the configured token.
 */
export function primaryEndpoints(flags: readonly string[] | undefined, config: Config): PrimaryEndpoint[] {
  if (flags !== undefined && flags.length > 0) return flags.map((url) => primaryEndpoint(url, config.producer.apiToken))
  const configured = configuredPrimary(config)
  if (configured === undefined) throw new XrcError('XRC_USAGE', { reason: 'primaryUrlNeeded' })
  return [configured]
}

async function call<T>(primary: PrimaryEndpoint, path: string, method: 'GET' | 'POST', timeoutMs = 30_000): Promise<T> {
  let res: Response
  try {
    res = await fetchPrimary(primary, path, { method, signal: AbortSignal.timeout(timeoutMs) })
  } catch (err) {
    throw primaryUnreachable(primary.url, err)
  }
  const body = (await res.json().catch(() => ({}))) as T & { code?: string; message?: string }
  if (!res.ok) throw primaryRefusal(`${primary.url}${path}`, res.status, body)
  return body
}

export const suspendPrimary = (p: PrimaryEndpoint): Promise<MirrorStatus> =>
  call<MirrorStatus>(p, '/v1/suspend', 'POST')
export const resumePrimary = (p: PrimaryEndpoint): Promise<MirrorStatus> => call<MirrorStatus>(p, '/v1/resume', 'POST')
export const rebasePrimary = (p: PrimaryEndpoint): Promise<{ blocks: number; volumeBlocks: number }> =>
  call(p, '/v1/rebase', 'POST', 120_000)
export const primaryStatus = (p: PrimaryEndpoint): Promise<PrimaryStatus> =>
  call<PrimaryStatus>(p, '/v1/status', 'GET', 5000)

/** One line for a primary's mirroring state. */
export function describeMirror(base: string, m: MirrorStatus): string {
  const parts = [`${base}: ${m.state}`]
  if (m.reason) parts.push(`(${m.reason}${m.since ? ` since ${m.since}` : ''})`)
  if (m.state === 'suspended')
    parts.push(`${m.changes.pending} blocks marked for resync, ${m.markedWrites} writes marked`)
  if (m.resync && m.state === 'resyncing')
    parts.push(`resync epoch ${m.resync.epoch}: ${m.resync.blocksRemaining} of ${m.resync.blocksTotal} blocks to go`)
  return parts.join(' ')
}

export interface ResyncOutcome {
  url: string
  mirror: MirrorStatus
}

/**
 * Polls the primaries until none is resyncing: a progress bar (blocks sent
 * of those marked when it began, rate, ETA) on a terminal, a line every few
 * seconds elsewhere. Throws XRC_TIMEOUT after `timeoutMs`, and
 * XRC_SESSION_HALTED when a primary is suspended in a way it does not
 * resume from by itself (an operator's suspend, or resync.autoResume off);
 * a primary that suspended again on an outage is followed until it resumes
 * and finishes.
 */
export async function followResync(
  primaries: readonly PrimaryEndpoint[],
  out: ProgressOutput,
  timeoutMs: number,
): Promise<ResyncOutcome[]> {
  const started = Date.now()
  for (;;) {
    const outcomes = await Promise.all(
      primaries.map(async (p) => ({ url: p.url, mirror: (await primaryStatus(p)).mirror })),
    )
    const total = outcomes.reduce((n, o) => n + (o.mirror.resync?.blocksTotal ?? 0), 0)
    const remaining = outcomes.reduce(
      (n, o) => n + (o.mirror.state === 'resyncing' ? (o.mirror.resync?.blocksRemaining ?? 0) : 0),
      0,
    )
    const rate = outcomes.reduce(
      (n, o) => n + (o.mirror.state === 'resyncing' ? (o.mirror.resync?.blocksPerSecond ?? 0) : 0),
      0,
    )
    const eta = rate > 0 ? formatMs((remaining / rate) * 1000) : '-'
    // a primary that suspended again by itself (Kafka out of reach, a full sidefile) resumes by itself: follow on
    const suspended = outcomes.find((o) => o.mirror.state === 'suspended' && o.mirror.resumesItself !== true)
    if (suspended) {
      out.end()
      throw new XrcError('XRC_SESSION_HALTED', {
        reason: 'resyncStopped',
        mirror: describeMirror(suspended.url, suspended.mirror),
      })
    }
    const waiting = outcomes.find((o) => o.mirror.state === 'suspended')
    out.update(
      waiting
        ? `${describeMirror(waiting.url, waiting.mirror)}; waiting for it to resume by itself`
        : `resync ${progressBar(total === 0 ? 1 : 1 - remaining / total)}  ${remaining} of ${total} ` +
            `blocks to go  ${rate.toFixed(0)} blocks/s  ETA ${eta}`,
    )
    if (outcomes.every((o) => o.mirror.state === 'duplex')) {
      out.end()
      return sentOut(primaries, Math.min(30_000, Math.max(0, timeoutMs - (Date.now() - started))))
    }
    if (Date.now() - started > timeoutMs) {
      out.end()
      throw new XrcError('XRC_TIMEOUT', { reason: 'resync', duration: formatMs(timeoutMs) })
    }
    await new Promise((r) => setTimeout(r, 250))
  }
}

/**
 * The resync records are durable in the sidefiles once a primary is duplex
 * again; waits (at most `boundMs`) until Kafka acknowledged every entry each
 * controller had then, so the figures count all the bytes sent.
 */
async function sentOut(primaries: readonly PrimaryEndpoint[], boundMs: number): Promise<ResyncOutcome[]> {
  const targets = new Map(
    await Promise.all(
      primaries.map(
        async (p) =>
          [p.url, (await primaryStatus(p)).controllers.map((c) => ({ id: c.id, seq: c.nextSeq - 1 }))] as const,
      ),
    ),
  )
  const deadline = Date.now() + boundMs
  for (;;) {
    const statuses = await Promise.all(primaries.map(async (p) => ({ url: p.url, status: await primaryStatus(p) })))
    const sent = statuses.every(({ url, status }) =>
      (targets.get(url) ?? []).every((t) => (status.controllers.find((c) => c.id === t.id)?.lastSentSeq ?? 0) >= t.seq),
    )
    if (sent || Date.now() >= deadline) return statuses.map(({ url, status }) => ({ url, mirror: status.mirror }))
    await new Promise((r) => setTimeout(r, 100))
  }
}
