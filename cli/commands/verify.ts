/**
 * `xrc verify [--volume V] [--rate MiB/s]`: an online comparison of the
 * primary and the secondary by segment code while both run (cli/verify/).
 * Prints the mismatching segments (volume, segment, blocks) and exits 1 when
 * there are any, 0 otherwise; --json prints the report as one JSON object.
 */
import type { Command } from 'commander'
import { XrcError } from '../../lib/errors.js'
import { integerArg, parseUrl } from '../args.js'
import type { GlobalOptions } from '../context.js'
import { formatBytes, formatMs, isoMicros, jsonLine } from '../format.js'
import { createProgressOutput, progressBar } from '../progress.js'
import type { VerifyProgress, VerifyReport } from '../verify/runVerify.js'

interface VerifyFlags {
  volume?: string
  rate: number
  retries: number
  primary?: string
  json?: boolean
}

const MiB = 1024 * 1024

function progressLine(p: VerifyProgress): string {
  const rate = p.elapsedMs > 0 ? p.bytes / MiB / (p.elapsedMs / 1000) : 0
  const left = p.segments - p.done
  const eta = p.done > 0 ? formatMs((p.elapsedMs / p.done) * left) : '?'
  return (
    `verify ${progressBar(p.done / Math.max(1, p.segments))} ${p.done}/${p.segments} segments, ` +
    `${rate.toFixed(1)} MiB/s, ETA ${eta}, mismatches ${p.mismatches}`
  )
}

function printReport(r: VerifyReport): void {
  const rate = r.bytes / MiB / Math.max(0.001, r.elapsedMs / 1000)
  const asOf = r.consistencyTime ? isoMicros(r.consistencyTime) : '-'
  console.log(
    `verified ${r.segments} segments (${formatBytes(r.bytes)} compared in ${formatMs(r.elapsedMs)}, ` +
      `${rate.toFixed(1)} MiB/s) against the secondary as of ${asOf}: ` +
      `${r.matched} match, ${r.mismatches.length} mismatch, ${r.unverifiable.length} unverifiable for now`,
  )
  for (const m of r.mismatches)
    console.log(`MISMATCH ${m.volume} segment ${m.segment} blocks ${m.firstBlock}..${m.lastBlock} (${m.reason})`)
  for (const u of r.unverifiable)
    console.log(`still being written: ${u.volume} segment ${u.segment} blocks ${u.firstBlock}..${u.lastBlock}`)
}

export function registerVerifyCommand(program: Command): void {
  program
    .command('verify')
    .description('compare the primary and the secondary by segment code while both run; exit 1 on a mismatch')
    .option('--volume <name>', 'verify this volume only (default: every volume of the session)')
    .option('--rate <MiB/s>', 'compare at most this many MiB per second (0 = no bound)', integerArg(0), 64)
    .option('--retries <n>', 'times a segment still being written is checked again', integerArg(0), 5)
    .option('--primary <url>', "the primary's HTTP API (default: http://127.0.0.1:<producer.apiPort>)", parseUrl)
    .option('--json', 'print the report as one JSON object')
    .action(async (flags: VerifyFlags) => {
      const { cliConfig, commandLogger, volumeOf } = await import('../context.js')
      const { configuredPrimary, primaryClient } = await import('../primaryClient.js')
      const { createPool } = await import('../../lib/postgres.js')
      const { runVerify } = await import('../verify/runVerify.js')
      const opts = program.opts<GlobalOptions>()
      const config = cliConfig(opts)
      const volumes =
        flags.volume !== undefined
          ? [volumeOf(config, flags.volume)]
          : config.session.controllers.flatMap((c) => c.volumes)
      const primary = configuredPrimary(config, flags.primary)
      if (!primary) throw new XrcError('XRC_USAGE', { reason: 'primaryUrlNeeded' })
      const pool = createPool({ url: config.database.url, logger: commandLogger(opts, 'verify'), max: 2 })
      const out = createProgressOutput(process.stderr)
      try {
        const report = await runVerify({
          pool,
          schema: config.applier.schema,
          blockSize: config.session.blockSize,
          segmentBlocks: config.session.segmentBlocks,
          primary: primaryClient(primary),
          volumes,
          bytesPerSecond: flags.rate * MiB,
          retries: flags.retries,
          catchUpMs: 30_000,
          onProgress: (p) => out.update(progressLine(p)),
        })
        out.end()
        if (report.consistencyTime === undefined)
          throw new XrcError('XRC_NOT_FOUND', { reason: 'nothingApplied', schema: config.applier.schema })
        if (flags.json) console.log(jsonLine(report))
        else printReport(report)
        process.exitCode = report.mismatches.length > 0 ? 1 : 0
      } finally {
        await pool.end()
      }
    })
}
