/**
 * `xrc verify` on the real stack, the services as child processes: during a
 * dependent-write workload through the primary it finds no mismatch (exit
 * 0) and every segment matched or still being written; a block changed
 * directly in the secondary's blocks table is found by volume and segment
 * (exit 1); and the applier's recomputer leaves the codes of a quiet
 * secondary valid and equal to the primary's.
 */
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ident } from '../../lib/postgres.js'
import { waitFor } from '../../lib/retry.js'
import { segmentCode } from '../../lib/segmentCodes.js'
import { runDependentWrites } from '../../workload/dependentWrites.js'
import { httpWriteTarget } from '../../workload/httpTarget.js'
import { WriteLog } from '../../workload/writeLog.js'
import { lastJsonLine, runCli } from '../kit/cli.js'
import { startPipelineServices, type ServiceChild } from '../kit/services.js'
import { stackInfo } from '../kit/servers.js'
import { createTestSession, workloadVolumes, type TestSession } from '../kit/session.js'

interface Report {
  segments: number
  matched: number
  mismatches: { volume: string; segment: number; firstBlock: number; lastBlock: number; reason: string }[]
  unverifiable: { volume: string; segment: number }[]
  bytes: number
  elapsedMs: number
}

let session: TestSession
let configFile: string
let services: ServiceChild[] = []
let api: string
let client: pg.Client
const BLOCKS = 2048 // 8 segments of 256 blocks per volume
const WRITERS = 4
/** Blocks per writer in the hot phase: writer i writes blocks i + 4k, k < 128, all below 512 (segments 0, 1). */
const HOT = 128

/** Distinct (volume, segment) pairs with an acknowledged write. */
function segmentsWritten(log: WriteLog): number {
  const segments = new Set<string>()
  for (const [, writes] of log.blocks())
    for (const w of writes) if (w.status === 'acked') segments.add(`${w.volume}/${Math.floor(w.block / 256)}`)
  return segments.size
}

const verify = (...args: string[]) =>
  runCli(['--config', configFile, 'verify', '--primary', api, '--rate', '0', '--json', ...args], {
    timeoutMs: 120_000,
  })

beforeAll(async () => {
  session = createTestSession({ controllers: 2, volumesPerController: 1, blocks: BLOCKS })
  ;({ configFile, services, api } = await startPipelineServices(session.dataDir, session.settings))
  client = new pg.Client({ connectionString: stackInfo().databaseUrl })
  await client.connect()
})

afterAll(async () => {
  for (const s of services) await s.kill('SIGKILL')
  await client?.end()
  await session?.cleanup()
})

describe('xrc verify', () => {
  it('finds no mismatch while a dependent-write workload runs (exit 0)', async () => {
    const log = new WriteLog()
    const workload = (signal: AbortSignal, blocksPerWriter?: number) =>
      runDependentWrites(
        httpWriteTarget(() => api),
        {
          volumes: workloadVolumes(session.config),
          blockSize: 4096,
          writers: WRITERS,
          signal,
          seed: 17,
          log,
          ...(blocksPerWriter === undefined ? {} : { blocksPerWriter }),
        },
      )
    // first every segment of both volumes gets writes...
    const first = new AbortController()
    const spread = workload(first.signal)
    try {
      await waitFor('every segment written', () => (segmentsWritten(log) === 16 ? true : undefined), {
        timeoutMs: 60_000,
      })
    } finally {
      first.abort()
      await spread
    }
    // ...then writes go on in segments 0 and 1 only (a writer's first HOT blocks are below 512), while the
    // other segments are quiet: those must match, the hot ones match or are reported still being written
    const ac = new AbortController()
    const acked = log.counts().acked
    const run = workload(ac.signal, HOT)
    try {
      await waitFor('hot writes acknowledged', () => (log.counts().acked >= acked + 100 ? true : undefined), {
        timeoutMs: 60_000,
      })
      const r = await verify()
      expect(r.code, r.stderr).toBe(0)
      const report = lastJsonLine<Report>(r)
      expect(report.segments).toBe(16)
      expect(report.mismatches).toEqual([])
      expect(report.matched + report.unverifiable.length).toBe(16)
      expect(report.matched).toBeGreaterThanOrEqual(12)
      for (const u of report.unverifiable) expect(u.segment).toBeLessThan(2)
      expect(log.counts().acked).toBeGreaterThan(acked + 100)
    } finally {
      ac.abort()
      await run
    }
    expect(log.counts().indoubt).toBe(0)
  })

  it('names the volume and segment of a block changed behind the applier (exit 1)', async () => {
    const schema = ident(session.config.applier.schema)
    // the workload has stopped: once the secondary holds every write, all segments verify
    await waitFor(
      'a quiet verify with every segment matched',
      async () => {
        const r = await verify()
        return r.code === 0 && lastJsonLine<Report>(r).matched === 16 ? true : undefined
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    )
    const changed = await client.query(
      `UPDATE ${schema}.blocks b SET data = decode(repeat('ab', 4096), 'hex') FROM ${schema}.volumes v
       WHERE v.id = b.volume_id AND v.name = 'c1v0' AND b.block = (
         SELECT min(block) FROM ${schema}.blocks WHERE volume_id = v.id AND block >= 512)
       RETURNING b.block`,
    )
    const block = Number((changed.rows[0] as { block: bigint }).block)
    const r = await verify()
    expect(r.code, r.stderr).toBe(1)
    const report = lastJsonLine<Report>(r)
    expect(report.mismatches).toEqual([
      expect.objectContaining({
        volume: 'c1v0',
        segment: Math.floor(block / 256),
        firstBlock: Math.floor(block / 256) * 256,
      }),
    ])
    const text = await runCli(['--config', configFile, 'verify', '--primary', api, '--volume', 'c1v0'])
    expect(text.code).toBe(1)
    expect(text.stdout).toMatch(new RegExp(`MISMATCH c1v0 segment ${Math.floor(block / 256)} blocks`))
  })

  it("keeps the secondary's codes valid: the recomputer's codes equal the primary's", async () => {
    const schema = ident(session.config.applier.schema)
    const rows = await waitFor(
      'every segment code valid',
      async () => {
        const res = await client.query<{ name: string; segment: bigint; code: Buffer }>(
          `SELECT v.name, c.segment, c.code FROM ${schema}.segment_codes c JOIN ${schema}.volumes v ON v.id = c.volume_id
           WHERE c.valid AND v.name = 'c0v0' ORDER BY c.segment`,
        )
        return res.rows.length === 8 ? res.rows : undefined
      },
      { timeoutMs: 60_000, intervalMs: 300 },
    )
    const image = await session.primaryImage('c0v0')
    for (const row of rows) {
      const seg = Number(row.segment)
      expect(row.code.toString('hex')).toBe(segmentCode(image.subarray(seg * 256 * 4096, (seg + 1) * 256 * 4096)))
    }
  })
})
