/**
 * Failback after a failover (issue 17's second target): the original site
 * goes down (its primary stopped, its files kept; the secondary applies what
 * was journaled), `xrc failover`'s library entry brings the secondary's image
 * up as a takeover session at this site, a pipeline runs it, one block is
 * written in `changedFraction` of its segments and mirrored, then
 * `xrc failback`'s library entry (its defaults: one online pass, hot window
 * 2 s) copies home only the segments whose codes differ and hands over to a
 * new session at the original site. Bytes copied against a full copy.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { runFailback, runFailover } from '../../cli/failover/index.js'
import { primaryClient, primaryEndpoint, primaryQuiesce } from '../../cli/primaryClient.js'
import { loadConfig, type Config } from '../../lib/config.js'
import { silentLogger } from '../../lib/logger.js'
import type { Pool } from '../../lib/postgres.js'
import { sleep } from '../../lib/sleep.js'
import type { BenchSession } from '../benchSession.js'
import { startPipeline, type PipelineHarness } from '../pipelineHarness.js'
import type { RangesWritten } from '../protocol.js'
import { round } from '../stats.js'
import { segmentsToChange } from './blockRanges.js'
import { changedSegmentBytes, type FailoverBenchReport } from './failoverReport.js'

export interface FailbackProfile {
  /** Share of the session's segments changed at the takeover site (one block each). */
  changedFraction: number
  /** xrc failback's defaults. */
  onlinePasses: number
  hotMs: number
  catchUpMs: number
  /** Longest wait for the secondary to apply what was journaled before the failover, and for a drain. */
  drainTimeoutMs: number
}

type Log = (message: string) => void

/**
 * From the original session's running pipeline (`original`, its primary's API at `originalApi`): stops its
 * primary, fails over, changes segments at the takeover site, fails back. Closes `original`.
 */
export async function measureFailback(options: {
  session: BenchSession
  original: PipelineHarness
  originalApi: string
  pool: Pool
  profile: FailbackProfile
  log: Log
}): Promise<FailoverBenchReport['failback']> {
  const { session, original, pool, profile, log } = options
  const { config } = session
  const name = config.session.name
  // xrc failover makes the new session's config from the lost one's file
  const configFile = join(session.dir, 'xrc-config.json')
  await writeFile(configFile, `${JSON.stringify(config, null, 2)}\n`)
  const takeoverName = `${name}_to`
  const backName = `${name}_fb`
  session.adopt({ name: takeoverName, schema: takeoverName })
  session.adopt({ name: backName, schema: backName })

  log('  the original site goes down: its primary stopped, its files kept; the secondary applies what was journaled')
  await original.primary.stop()
  const failoverStarted = Date.now()
  const failover = await runFailover({
    config,
    configFile,
    pool,
    logger: silentLogger,
    newSession: takeoverName,
    schema: takeoverName,
    primaryUrl: options.originalApi,
    force: false,
    drainMs: profile.drainTimeoutMs,
  })
  const failoverSeconds = (Date.now() - failoverStarted) / 1000
  log(`    failover in ${round(failoverSeconds, 1)} s: image as of group ${failover.groupSeq}, ${failover.bytes} bytes`)
  await original.close()

  const takeoverConfig = loadConfig({ file: failover.configFile })
  const takeover = await startPipeline({ config: takeoverConfig, dir: session.dir })
  try {
    await takeover.startApplier('applier')
    const volumes = takeoverConfig.session.controllers.flatMap((c) => c.volumes)
    const { segmentBlocks, blockSize } = takeoverConfig.session
    const changed = segmentsToChange(volumes, segmentBlocks, profile.changedFraction)
    const segments = volumes.reduce((n, v) => n + Math.ceil(v.blocks / segmentBlocks), 0)
    log(`  takeover site: one block written in ${changed.length} of ${segments} segments, mirrored`)
    const written = await takeover.primary.request<RangesWritten>({
      op: 'writeRanges',
      ranges: changed,
      blocksPerWrite: 1,
      concurrency: 8,
    })
    await takeover.waitCommitted(written.lastTime, profile.drainTimeoutMs)
    // past the hot window: the online pass copies them while writes could go on, as an operator's run would
    await sleep(profile.hotMs + 500)

    const { url } = await takeover.primary.request<{ url: string }>({ op: 'api' })
    const report = await failBack(takeoverConfig, pool, backName, url, options.originalApi, profile, log)
    const bytes = changedSegmentBytes(changed, volumes, segmentBlocks, blockSize)
    return {
      volumes: volumes.length,
      segments: report.segments,
      segmentBlocks,
      changedSegments: bytes.segments,
      changedBytes: bytes.bytes,
      failoverSeconds: round(failoverSeconds, 1),
      failbackSeconds: report.seconds,
      segmentsCopied: report.segmentsCopied,
      bytesCopied: report.bytesCopied,
      fullCopyBytes: report.fullCopyBytes,
      fraction: round(report.fraction, 5),
      overChanged: round(bytes.bytes > 0 ? report.bytesCopied / bytes.bytes : NaN, 3),
      passes: report.passes,
    }
  } finally {
    // quiesced by the failback: its primary takes no write any more
    await takeover.close()
  }
}

/** runFailback as `xrc failback` calls it, against the takeover primary's API at `url`; timed. */
async function failBack(
  config: Config,
  pool: Pool,
  newSession: string,
  url: string,
  originalApi: string,
  profile: FailbackProfile,
  log: Log,
): Promise<Awaited<ReturnType<typeof runFailback>> & { seconds: number }> {
  const endpoint = primaryEndpoint(url)
  log(`  failback to ${newSession}: ${profile.onlinePasses} online pass(es), hot window ${profile.hotMs} ms`)
  const started = Date.now()
  const report = await runFailback({
    config,
    pool,
    logger: silentLogger,
    newSession,
    schema: newSession,
    primary: primaryClient(endpoint, 120_000),
    ...primaryQuiesce(endpoint, config.session.name),
    // a port of the original API taken again by the takeover's would read as "still up": not probed then
    originalPrimaryUrl: originalApi === url ? undefined : originalApi,
    onlinePasses: profile.onlinePasses,
    hotMs: profile.hotMs,
    catchUpMs: profile.catchUpMs,
  })
  const seconds = round((Date.now() - started) / 1000, 1)
  log(
    `    failback in ${seconds} s: ${report.segmentsCopied} of ${report.segments} segments copied, ` +
      `${report.bytesCopied} of ${report.fullCopyBytes} bytes`,
  )
  return { ...report, seconds }
}
