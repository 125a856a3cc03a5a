import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { isXrcError } from '../../lib/errors.js'
import type { MirrorStatus } from '../../producer/index.js'
import type { ProgressOutput } from '../progress.js'
import { primaryEndpoint } from '../primaryClient.js'
import { followResync } from './primaryApi.js'

const changes = { pending: 0, older: 0, newer: 0 }
const resyncing: MirrorStatus = {
  state: 'resyncing',
  epoch: 2,
  markedWrites: 0,
  changes,
  resync: {
    epoch: 2,
    startedAt: new Date(0).toISOString(),
    blocksTotal: 10,
    blocksRemaining: 4,
    blocksSent: 6,
    bytesSent: 0,
    blocksPerSecond: 5,
    staleCopies: 0,
    etaSeconds: 1,
  },
}
const duplex: MirrorStatus = { state: 'duplex', epoch: 2, markedWrites: 0, changes }
const outageSuspended: MirrorStatus = {
  state: 'suspended',
  reason: 'kafka-unreachable',
  resumesItself: true,
  epoch: 2,
  markedWrites: 0,
  changes,
}
const operatorSuspended: MirrorStatus = { state: 'suspended', reason: 'operator', epoch: 2, markedWrites: 0, changes }

/** A primary's /v1/status that answers each poll with the next state of `states` (the last one repeats). */
async function fakePrimary(states: MirrorStatus[]): Promise<{ url: string; polls: () => number; server: Server }> {
  let polls = 0
  const server = createServer((_req, res) => {
    const mirror = states[Math.min(polls++, states.length - 1)]
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ mirror, controllers: [{ id: 0, nextSeq: 5, lastSentSeq: 4 }] }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, polls: () => polls, server }
}

const lines: string[] = []
const out: ProgressOutput = { update: (l) => void lines.push(l), note: (l) => void lines.push(l), end: () => undefined }
let server: Server | undefined

afterEach(async () => {
  lines.length = 0
  await new Promise((resolve) => server?.close(resolve))
})

describe('followResync', () => {
  it('follows a primary that suspends again on an outage and resumes by itself, to the end of the resync', async () => {
    const p = await fakePrimary([resyncing, outageSuspended, outageSuspended, resyncing, duplex])
    server = p.server
    const outcomes = await followResync([primaryEndpoint(p.url)], out, 30_000)
    expect(outcomes.map((o) => o.mirror.state)).toEqual(['duplex'])
    expect(p.polls()).toBeGreaterThanOrEqual(5)
    expect(lines.some((l) => l.includes('waiting for it to resume by itself'))).toBe(true)
  })

  it('stops with XRC_SESSION_HALTED when a primary is suspended in a way it does not resume from by itself', async () => {
    const p = await fakePrimary([resyncing, operatorSuspended])
    server = p.server
    const err = await followResync([primaryEndpoint(p.url)], out, 30_000).catch((e: unknown) => e)
    expect(isXrcError(err, 'XRC_SESSION_HALTED')).toBe(true)
    expect(String((err as Error).message)).toMatch(/suspended \(operator/)
  })

  it('gives up with XRC_TIMEOUT when an outage outlasts the timeout', async () => {
    const p = await fakePrimary([outageSuspended])
    server = p.server
    const err = await followResync([primaryEndpoint(p.url)], out, 600).catch((e: unknown) => e)
    expect(isXrcError(err, 'XRC_TIMEOUT')).toBe(true)
  })
})
