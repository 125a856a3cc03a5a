/**
 * The services and the operator commands as a user drives them, all child
 * processes of the built CLI: `xrc primary`, `xrc mover` and `xrc applier`
 * from one config file; `xrc write` through the primary's API; `xrc status`
 * until the write is applied; `xrc volume export` compared byte for byte
 * with the primary's volume file (what `cmp` does); `xrc audit` of both
 * topics; `xrc replay` to the end and to a past time; each service's
 * metrics endpoint; a clean SIGTERM for each.
 */
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '../../lib/retry.js'
import { lastJsonLine, runCli } from '../kit/cli.js'
import { uniqueName } from '../kit/names.js'
import { startPipelineServices, type ServiceChild } from '../kit/services.js'
import { createTestSession, type TestSession } from '../kit/session.js'

let session: TestSession
let configFile: string
let services: ServiceChild[] = []
let api: string
let moverUrl: string
let applierUrl: string
const BS = 4096
const data = randomBytes(3 * BS)
let ack: { controller: number; seq: number; time: number }

const xrc = (...args: string[]) => runCli(['--config', configFile, ...args], { timeoutMs: 90_000 })

beforeAll(async () => {
  session = createTestSession({ controllers: 2, volumesPerController: 1, blocks: 64 })
  ;({ configFile, services, api, moverUrl, applierUrl } = await startPipelineServices(
    session.dataDir,
    session.settings,
  ))
})

afterAll(async () => {
  for (const s of services) await s.kill('SIGKILL')
  await session?.cleanup()
})

describe('xrc with running services', () => {
  it('announces each service and its endpoints on one JSON line', () => {
    expect(services.map((s) => s.announced.service)).toEqual(['primary', 'mover', 'applier'])
    expect(api).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(services.every((s) => s.announced.session === session.config.session.name)).toBe(true)
  })

  it('writes blocks from stdin through the primary, and refuses partial blocks (exit 2)', async () => {
    const r = await runCli(['--config', configFile, 'write', 'c0v0', '3', '--primary', api, '--json'], { input: data })
    expect(r.code, r.stderr).toBe(0)
    const out = lastJsonLine<{ blocks: number; acks: (typeof ack)[] }>(r)
    expect(out.blocks).toBe(3)
    ack = out.acks[0] as typeof ack
    expect(ack.controller).toBe(0)
    const partial = await runCli(['--config', configFile, 'write', 'c0v0', '0', '--primary', api], {
      input: Buffer.alloc(100),
    })
    expect(partial.code).toBe(2)
    expect(partial.stderr).toMatch(/not a whole number of 4096-byte blocks \(session\.blockSize\).*--pad/)
  })

  it('status shows the write applied, per-controller times and lags, and each service', async () => {
    type Status = {
      appliedGroup?: { seq: number; time: number }
      journaledGroup?: { seq: number }
      controllers: {
        id: number
        latestTime?: number
        endOffset?: number
        moverLag?: number
        primary?: { sidefileEntries: number }
      }[]
      rpoMs?: number
      journal: { lagGroups?: number; recoverableFrom?: { seq: number } }
      deadLetter: { records?: number }
      services: Record<string, { reachable: boolean; state?: string }>
      unavailable: string[]
    }
    const status = await waitFor(
      'xrc status to show the write applied',
      async () => {
        const r = await xrc('status', '--json', '--primary', api, '--mover', moverUrl, '--applier', applierUrl)
        expect(r.code, r.stderr).toBe(0)
        const s = lastJsonLine<Status>(r)
        return (s.appliedGroup?.time ?? 0) >= ack.time ? s : undefined
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    )
    expect(status.controllers.map((c) => c.id)).toEqual([0, 1])
    for (const c of status.controllers) {
      expect(c.latestTime).toBeGreaterThan(ack.time - 60_000_000)
      expect(c.endOffset).toBeGreaterThan(0)
      expect(c.primary?.sidefileEntries).toBeGreaterThanOrEqual(0)
      // where the mover resumes, from the last marker's header
      expect(c.moverLag).toBeGreaterThanOrEqual(0)
    }
    // nothing was deleted: every group can be rebuilt from the first
    expect(status.journal.recoverableFrom?.seq).toBe(1)
    expect(status.rpoMs).toBeGreaterThanOrEqual(0)
    expect(status.journal.lagGroups).toBeGreaterThanOrEqual(0)
    expect(status.journaledGroup?.seq).toBeGreaterThanOrEqual(status.appliedGroup?.seq ?? 0)
    expect(status.deadLetter.records).toBe(0)
    expect(status.services.primary).toMatchObject({ reachable: true, state: 'running' })
    expect(status.services.mover).toMatchObject({ reachable: true, state: 'running' })
    expect(status.services.applier).toMatchObject({ reachable: true, state: 'running' })
    expect(status.unavailable).toEqual([])
    const human = await xrc('status', '--primary', api)
    expect(human.stdout).toMatch(/consistency time .*group \d+ journaled/)
    expect(human.stdout).toMatch(/recovery window +from group 1 \(T /)
    expect(human.stdout).toMatch(/unavailable\n\s+mover: its health endpoint is unknown/)
  })

  it('exports the secondary volume identical to the primary volume file (cmp)', async () => {
    const out = join(session.dataDir, 'secondary-c0v0.img')
    const r = await xrc('volume', 'export', 'c0v0', out, '--json')
    expect(r.code, r.stderr).toBe(0)
    expect(lastJsonLine(r)).toMatchObject({ from: 'secondary', bytes: 64 * BS, storedBlocks: 3 })
    const primaryFile = (await xrc('volume', 'path', 'c0v0')).stdout.trim()
    const [secondary, primary] = await Promise.all([readFile(out), readFile(primaryFile)])
    expect(secondary.equals(primary)).toBe(true)
    expect(secondary.subarray(3 * BS, 6 * BS).equals(data)).toBe(true)
    const viaApi = join(session.dataDir, 'primary-c0v0.img')
    expect((await xrc('volume', 'export', 'c0v0', viaApi, '--from', 'primary', '--primary', api)).code).toBe(0)
    expect((await readFile(viaApi)).equals(primary)).toBe(true)
  })

  it('audits the updates and journal topics as JSON lines, payloads summarised', async () => {
    const updates = await xrc('audit', '--topic', 'updates', '--partition', '0')
    expect(updates.code, updates.stderr).toBe(0)
    const sets = updates.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    const set = sets.find((s) => s.kind === 'UPDATES')
    expect(set).toMatchObject({
      partition: 0,
      controller: 0,
      firstSeq: ack.seq,
      lastSeq: ack.seq,
      updates: 1,
      bytes: 3 * BS,
      volumes: { c0v0: { updates: 1, firstBlock: 3, lastBlock: 3 } },
    })
    expect(updates.stdout).not.toContain('"data"')
    expect(updates.stderr).toMatch(/audit: \d+ lines from .*updates/)
    const journal = await xrc('audit', '--topic', 'journal', '--each-update')
    expect(journal.code, journal.stderr).toBe(0)
    const groups = journal.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { groupSeq: number; updates: number; sha256: string; list: { block: number }[] })
    expect(groups.map((g) => g.groupSeq)).toEqual(groups.map((_, i) => i + 1))
    const withWrite = groups.find((g) => g.updates > 0)
    // one block per journal update, the same bytes in the same order: the same digest as the record set
    expect(withWrite?.list.map((u) => u.block)).toEqual([3, 4, 5])
    expect(withWrite?.sha256).toBe(set?.sha256)
    // resolved from a marker: the line names the updates-topic range it read on partition 0
    expect(withWrite).toMatchObject({
      parts: 1,
      ranges: expect.arrayContaining([expect.objectContaining({ controller: 0 })]),
    })
    const limited = await xrc('audit', '--limit', '2', '--from-offset', '0')
    expect(limited.stdout.trim().split('\n')).toHaveLength(2)
  })

  it('replays the journal into a new schema, to its end and to a past time', async () => {
    const full = uniqueName('replay')
    const past = uniqueName('replay_past')
    session.extraSchemas.push(full, past)
    const r = await xrc('replay', '--into', full, '--json')
    expect(r.code, r.stderr).toBe(0)
    expect(lastJsonLine(r)).toMatchObject({ schema: full, stoppedBy: 'journal-end', blocks: 3 })
    const out = join(session.dataDir, 'replayed.img')
    expect((await xrc('volume', 'export', 'c0v0', out, '--schema', full)).code).toBe(0)
    expect((await readFile(out)).equals(await session.primaryImage('c0v0'))).toBe(true)

    const before = await xrc('replay', '--into', past, '--to-time', String(ack.time - 1), '--json')
    expect(before.code, before.stderr).toBe(0)
    expect(lastJsonLine(before)).toMatchObject({ stoppedBy: 'stop-time', blocks: 0 })
    const pastOut = join(session.dataDir, 'past.img')
    expect((await xrc('volume', 'export', 'c0v0', pastOut, '--schema', past)).code).toBe(0)
    expect((await readFile(pastOut)).equals(Buffer.alloc(64 * BS))).toBe(true)

    const again = await xrc('replay', '--into', full)
    expect(again.code).toBe(2)
    expect(again.stderr).toMatch(/already holds group \d+.*--replace/)
  })

  it('serves the metrics an operator needs on each service', async () => {
    const text = async (url: string): Promise<string> => (await fetch(`${url}/metrics`)).text()
    const [p, m, a] = await Promise.all([text(api), text(moverUrl), text(applierUrl)])
    for (const name of [
      'xrc_producer_writes_total',
      'xrc_producer_write_bytes_total',
      'xrc_producer_sidefile_bytes',
      'xrc_producer_sidefile_entries',
    ])
      expect(p).toContain(name)
    for (const name of [
      'xrc_mover_consistency_time_seconds',
      'xrc_mover_partition_lag_records',
      'xrc_mover_groups_journaled_total',
      'xrc_mover_dead_lettered_total',
    ])
      expect(m).toContain(name)
    for (const name of [
      'xrc_applier_rpo_seconds_bucket',
      'xrc_applier_journal_lag_records',
      'xrc_applier_apply_seconds_bucket',
      'xrc_applier_groups_applied_total',
      'xrc_applier_consistency_time_seconds',
    ])
      expect(a).toContain(name)
    expect(p).toMatch(/xrc_producer_writes_total\{controller="0",[^}]*\} 1/)
    const health = await fetch(`${applierUrl}/health`)
    expect(health.status).toBe(200)
  })

  it('stops each service cleanly on SIGTERM (exit 0)', async () => {
    for (const s of [...services].reverse()) expect(await s.stop()).toBe(0)
  })
})
