/**
 * Verify while the pipeline runs (issue 17's first target): a volume filled
 * through the pipeline, then open-loop phases at 50% of the highest rate,
 * alternating without and with verify (ABBA), the same writes' RPO measured
 * in each. In a `with` phase, passes of runVerify (what `xrc verify` runs,
 * through the primary's HTTP API, with its defaults) go back to back until
 * the phase's time is up; the pass then running is cut at its next page.
 */
import { runVerify, type VerifyOptions, type VerifyProgress } from '../../cli/verify/runVerify.js'
import { primaryClient, primaryEndpoint } from '../../cli/primaryClient.js'
import type { Config } from '../../lib/config.js'
import type { Pool } from '../../lib/postgres.js'
import { measureHighestRate, warmUp, type RateProfile } from '../benchRun.js'
import { fillVolumes, type FillSettings } from '../fill.js'
import type { PhaseOutcome, PipelineHarness } from '../pipelineHarness.js'
import { pairOrder } from '../snapshots/snapshotReport.js'
import { concat, differences, latencySummary, round } from '../stats.js'
import {
  p99Ratio,
  verifyTotals,
  type FailoverBenchReport,
  type VerifyPhase,
  type VerifyTotals,
} from './failoverReport.js'

export interface VerifyProfile extends RateProfile {
  /** The verified volume's size, blocks (1 GiB: 262,144). */
  volumeBlocks: number
  /** Filling it through the pipeline first. */
  fill: FillSettings
  /** Each phase, ms, and pairs of phases (without, with; ABBA). */
  phaseMs: number
  pairs: number
  /** xrc verify's defaults: --rate 64 (MiB/s), --retries 5, and its 30 s wait for the secondary per re-check. */
  verifyBoundMiBps: number
  verifyRetries: number
  verifyCatchUpMs: number
}

type Log = (message: string) => void

/** Thrown from runVerify's progress callback to cut a pass at the phase's end. */
class PhaseOver extends Error {}

/** The verify figures of the report, on the running pipeline; leaves it running. */
export async function measureVerify(options: {
  harness: PipelineHarness
  config: Config
  pool: Pool
  volume: string
  profile: VerifyProfile
  log: Log
}): Promise<FailoverBenchReport['verify']> {
  const { harness, config, profile, log } = options
  await warmUp(harness, profile, log)
  const fill = await fillVolumes(
    harness,
    [{ name: options.volume, blocks: profile.volumeBlocks }],
    { ...profile.fill, drainTimeoutMs: profile.drainTimeoutMs },
    log,
  )
  const { blocksPerSec } = await measureHighestRate(harness, profile, log)
  const rate = Math.max(1, blocksPerSec * 0.5)
  const { url } = await harness.primary.request<{ url: string }>({ op: 'api' })
  const verifyOptions: Omit<VerifyOptions, 'onProgress'> = {
    pool: options.pool,
    schema: config.applier.schema,
    blockSize: config.session.blockSize,
    segmentBlocks: config.session.segmentBlocks,
    primary: primaryClient(primaryEndpoint(url)),
    volumes: [{ name: options.volume, blocks: profile.volumeBlocks }],
    bytesPerSecond: profile.verifyBoundMiBps * 2 ** 20,
    retries: profile.verifyRetries,
    catchUpMs: profile.verifyCatchUpMs,
  }
  const phases: VerifyPhase[] = []
  const delays: Record<VerifyPhase['kind'], Float64Array[]> = { without: [], with: [] }
  for (let i = 0; i < profile.pairs; i++) {
    for (const kind of pairOrder(i, 'without', 'with') as VerifyPhase['kind'][]) {
      const seed = 40 + phases.length
      const { phase, rpoDelays } = await verifyPhase(harness, kind, rate, seed, profile, verifyOptions)
      phases.push(phase)
      delays[kind].push(rpoDelays)
      const v = phase.verify
      log(
        `    ${kind} verify: RPO p50 ${phase.rpo.p50} ms, p99 ${phase.rpo.p99} ms` +
          (v ? `; verify ${round(v.bytes / 2 ** 20 / (v.ms / 1000), 1)} MiB/s, ${v.mismatches} mismatches` : ''),
      )
    }
  }
  const rpoWithout = latencySummary(concat(delays.without))
  const rpoWith = latencySummary(concat(delays.with))
  return {
    volume: options.volume,
    volumeBlocks: profile.volumeBlocks,
    segmentBlocks: config.session.segmentBlocks,
    fill,
    highestBlocksPerSec: round(blocksPerSec),
    rate: round(rate),
    phaseMs: profile.phaseMs,
    verifyBoundMiBps: profile.verifyBoundMiBps,
    phases,
    rpoWithout,
    rpoWith,
    p99Ratio: p99Ratio(rpoWith, rpoWithout),
    ...verifyTotals(phases),
  }
}

/** One open-loop phase at `rate`, with verify passes running through it or not. */
async function verifyPhase(
  harness: PipelineHarness,
  kind: VerifyPhase['kind'],
  rate: number,
  seed: number,
  profile: VerifyProfile,
  verifyOptions: Omit<VerifyOptions, 'onProgress'>,
): Promise<{ phase: VerifyPhase; rpoDelays: Float64Array }> {
  const spec = { mode: 'open', rate, durationMs: profile.phaseMs, maxInFlight: 10_000 } as const
  const endsAt = Date.now() + profile.phaseMs
  // settled either way, so a failing verify is reported after the phase, not as an unhandled rejection
  const verifying =
    kind === 'with'
      ? verifyUntil(endsAt, verifyOptions).then(
          (totals) => ({ totals }),
          (err: unknown) => ({ err }),
        )
      : undefined
  const p: PhaseOutcome = await harness.runPhase(spec, { seed, drainTimeoutMs: profile.drainTimeoutMs })
  const settled = await verifying
  if (settled && 'err' in settled) throw settled.err
  const rpoDelays = differences(p.commit, p.load.due)
  return {
    phase: {
      kind,
      rate: round(rate),
      blocks: p.acked,
      rpo: latencySummary(rpoDelays),
      writeLatency: latencySummary(differences(p.load.ack, p.load.due)),
      ...(settled && 'totals' in settled ? { verify: settled.totals } : {}),
    },
    rpoDelays,
  }
}

/** runVerify passes back to back until `endsAt` (epoch ms); the pass running then is cut at its next page. */
async function verifyUntil(endsAt: number, options: Omit<VerifyOptions, 'onProgress'>): Promise<VerifyTotals> {
  const totals: VerifyTotals = { bytes: 0, ms: 0, passes: 0, mismatches: 0, unverifiable: 0 }
  while (Date.now() < endsAt) {
    let last: VerifyProgress | undefined
    try {
      const r = await runVerify({
        ...options,
        onProgress: (p) => {
          last = p
          // the pass's last report (every segment done) lets it finish whole
          if (Date.now() >= endsAt && p.done < p.segments) throw new PhaseOver()
        },
      })
      totals.passes++
      totals.bytes += r.bytes
      totals.ms += r.elapsedMs
      totals.mismatches += r.mismatches.length
      totals.unverifiable += r.unverifiable.length
    } catch (err) {
      if (!(err instanceof PhaseOver) || last === undefined) throw err
      totals.bytes += last.bytes
      totals.ms += last.elapsedMs
      totals.mismatches += last.mismatches
    }
  }
  return totals
}
