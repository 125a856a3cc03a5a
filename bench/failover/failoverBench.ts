/**
 * `npm run bench -- --failover [--quick]` (and the end of every `npm run
 * bench`): issue 17's targets on the local stack, on a session of its own
 * whose volume c0v0 is the verified one (1 GiB in the full profile) and the
 * seven others small, all removed afterwards with the takeover and failback
 * sessions it makes:
 *   (1) verify: c0v0 filled through the pipeline; the highest sustained rate
 *       (as the main bench measures it); open-loop phases at 50% of it
 *       without and with verify running (ABBA), RPO p99 of each and verify's
 *       MiB/s (verifyBench.ts);
 *   (2) failback: the original site goes down, failover, 1% of the segments
 *       changed at the takeover site, failback: bytes copied against a full
 *       copy (failbackBench.ts).
 * Results: bench/results/failover.json and .md (failover-quick.* for
 * --quick). A missed target is reported, never an error.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { LoadOptions } from '../../lib/config.js'
import { silentLogger } from '../../lib/logger.js'
import { createPool } from '../../lib/postgres.js'
import { createBenchSession } from '../benchSession.js'
import { describeMachine, headMachine, loadAverage } from '../machine.js'
import { startPipeline } from '../pipelineHarness.js'
import { round } from '../stats.js'
import { measureFailback, type FailbackProfile } from './failbackBench.js'
import { judgeTargets, renderFailoverReport, type FailoverBenchReport } from './failoverReport.js'
import { measureVerify, type VerifyProfile } from './verifyBench.js'

export interface FailoverProfile {
  name: 'quick' | 'full'
  /** The seven other volumes' size, blocks: written by the load, not verified. */
  otherBlocks: number
  verify: VerifyProfile
  failback: FailbackProfile
}

/** The verified volume. */
const VERIFIED = 'c0v0'

const shared = {
  concurrency: 64,
  window: 16_384,
  fill: { blocksPerWrite: 64, concurrency: 8, chunkBlocks: 8192 },
  verifyBoundMiBps: 64,
  verifyRetries: 5,
  verifyCatchUpMs: 30_000,
  drainTimeoutMs: 600_000,
}
const failbackDefaults = { changedFraction: 0.01, onlinePasses: 1, hotMs: 2000, catchUpMs: 60_000 }

export const FAILOVER_PROFILES: Record<'quick' | 'full', FailoverProfile> = {
  full: {
    name: 'full',
    otherBlocks: 4096,
    verify: {
      ...shared,
      volumeBlocks: 262_144,
      warmupMs: 3000,
      warmupRate: 300,
      maxMs: 15_000,
      maxSettleMs: 3000,
      phaseMs: 45_000,
      pairs: 2,
    },
    failback: { ...failbackDefaults, drainTimeoutMs: 600_000 },
  },
  quick: {
    name: 'quick',
    otherBlocks: 1024,
    verify: {
      ...shared,
      volumeBlocks: 4096,
      warmupMs: 1000,
      warmupRate: 300,
      maxMs: 4000,
      maxSettleMs: 1000,
      phaseMs: 3000,
      pairs: 1,
      drainTimeoutMs: 120_000,
    },
    // a shorter hot window: the wait past it before the failback is short too
    failback: { ...failbackDefaults, hotMs: 500, drainTimeoutMs: 120_000 },
  },
}

type Log = (message: string) => void

export async function runFailoverBench(options: {
  load: LoadOptions
  profile: FailoverProfile
  resultsDir: string
  log: Log
}): Promise<FailoverBenchReport> {
  const { profile, log } = options
  const began = Date.now()
  const loadStart = loadAverage()
  const session = await createBenchSession({
    load: options.load,
    blocksPerVolume: profile.otherBlocks,
    volumeBlocks: { [VERIFIED]: profile.verify.volumeBlocks },
  })
  const pool = createPool({ url: session.config.database.url, logger: silentLogger, max: 4 })
  let failed = false
  try {
    const machine = await describeMachine(session.config)
    log(`failover (${profile.name}): ${machine.cores} cores, load average ${loadStart}`)
    log('  starting the primary, mover and applier processes')
    const harness = await startPipeline({ config: session.config, dir: session.dir })
    let verify: FailoverBenchReport['verify']
    let failback: FailoverBenchReport['failback']
    try {
      await harness.startApplier('applier')
      verify = await measureVerify({
        harness,
        config: session.config,
        pool,
        volume: VERIFIED,
        profile: profile.verify,
        log,
      })
      const { url } = await harness.primary.request<{ url: string }>({ op: 'api' })
      failback = await measureFailback({
        session,
        original: harness,
        originalApi: url,
        pool,
        profile: profile.failback,
        log,
      })
    } catch (err) {
      harness.kill()
      throw err
    }
    const partial: Omit<FailoverBenchReport, 'targets'> = {
      generatedAt: new Date().toISOString(),
      profile: profile.name,
      command: `npm run bench -- --failover${profile.name === 'quick' ? ' --quick' : ''}`,
      durationSeconds: round((Date.now() - began) / 1000, 1),
      machine: headMachine(machine),
      load: { start: loadStart, end: loadAverage() },
      verify,
      failback,
    }
    const report: FailoverBenchReport = { ...partial, targets: judgeTargets(partial) }
    await mkdir(options.resultsDir, { recursive: true })
    const stem = profile.name === 'quick' ? 'failover-quick' : 'failover'
    await writeFile(join(options.resultsDir, `${stem}.json`), `${JSON.stringify(report, null, 2)}\n`)
    await writeFile(join(options.resultsDir, `${stem}.md`), renderFailoverReport(report))
    return report
  } catch (err) {
    failed = true
    log(`failover: failed; the stages' logs are kept in ${session.dir}`)
    throw err
  } finally {
    await pool.end()
    for (const p of await session.cleanup({ keepDir: failed })) log(`cleanup: ${p}`)
  }
}
