/**
 * `xrc demo` (and `npm run demo`): see cli/demo/runDemo.ts. Prints a human
 * summary; with --json, one JSON object on the last line. Exit code 0 only
 * when every volume verified.
 */
import { basename } from 'node:path'
import type { Command } from 'commander'
import { integerArg, parseDuration } from '../args.js'
import type { GlobalOptions } from '../context.js'
import type { DemoResult } from '../demo/runDemo.js'
import { clockMicros, formatMs, isoMicros, jsonLine } from '../format.js'

interface DemoFlags {
  duration?: number
  writers?: number
  volumeBlocks?: number
  fresh?: boolean
  json?: boolean
  clean?: boolean
}

/** 4 controllers with 2 volumes each: vol0..vol7, as the default config. */
function demoControllers(blocks: number): { id: number; volumes: { name: string; blocks: number }[] }[] {
  return Array.from({ length: 4 }, (_, id) => ({
    id,
    volumes: [0, 1].map((k) => ({ name: `vol${id * 2 + k}`, blocks })),
  }))
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'mirror a dependent-write workload across 4 controllers through Kafka into PostgreSQL, then' +
        ' verify every volume byte for byte',
    )
    .option('-d, --duration <time>', 'how long the writers write: 20s (the default), 1500ms, 2m', parseDuration)
    .option('-w, --writers <n>', 'concurrent writers (default 8)', integerArg(2, 256))
    .option('--volume-blocks <n>', 'blocks per volume, 8 volumes (default 1024)', integerArg(16, 1 << 20))
    .option('--fresh', "with --session: remove that session's data first (topics, schema, files)")
    .option('--json', 'end with one JSON object on the last line')
    .option('--clean', 'remove the sessions earlier demo runs left (topics, schema, files), and run nothing')
    .addHelpText(
      'after',
      `
Without --session each run gets its own session (demo-YYYYMMDD-HHMMSS-xxxx),
kept afterwards for status, audit, export and replay; the next run removes
earlier demo sessions (--clean removes them all now). The local stack is
brought up when it is not running.
Exit code 0 only when every volume is byte-identical to the primary and the
checker saw no mixed state.`,
    )
    .action(async (flags: DemoFlags) => {
      const { cliConfig } = await import('../context.js')
      const { removeEarlierDemos, runDemo } = await import('../demo/runDemo.js')
      const { autoDemoName } = await import('../demo/demoSession.js')
      const { silentLogger } = await import('../../lib/logger.js')
      const { stopServices } = await import('../serviceProcess.js')
      const global = program.opts<GlobalOptions>()
      if (flags.clean) {
        const config = cliConfig(global)
        const removed = await removeEarlierDemos(config, '', silentLogger)
        console.log(
          removed.length > 0
            ? `removed ${removed.length} demo session${removed.length > 1 ? 's' : ''}: ${removed.join(', ')}`
            : `no demo session to remove in ${config.session.dataDir}`,
        )
        return
      }
      const named = global.session !== undefined
      const config = cliConfig(
        { ...global, session: global.session ?? autoDemoName() },
        { session: { controllers: demoControllers(flags.volumeBlocks ?? 1024) } },
      )
      const interrupt = new AbortController()
      let interrupts = 0
      const onSigint = (): void => {
        // first Ctrl-C: stop writing, then catch up and verify; second: stop the services and leave; third: now
        interrupts++
        if (interrupts === 2) void stopServices().finally(() => process.exit(130))
        if (interrupts > 2) process.exit(130)
        interrupt.abort()
      }
      process.on('SIGINT', onSigint)
      try {
        const result = await runDemo({
          config,
          named,
          fresh: flags.fresh === true,
          durationMs: flags.duration ?? 20_000,
          writers: flags.writers ?? 8,
          out: process.stdout,
          interrupt: interrupt.signal,
        })
        printSummary(result)
        if (flags.json) {
          console.log(
            jsonLine({
              writes: result.writes,
              groups: result.groups,
              consistencyTime: result.consistencyTime ?? null,
              rpoMs: { p50: result.rpo.p50Ms, p99: result.rpo.p99Ms },
              verified: result.verified,
              session: result.session,
              writesPerSecond: result.writesPerSecond,
              mixedStates: result.mixedStates,
              groupsChecked: result.groupsChecked,
              volumesIdentical: result.volumes.filter((v) => v.identical).length,
              volumes: result.volumes.length,
              pid: result.pid,
              stages: result.stages,
            }),
          )
        }
        process.exitCode = result.verified ? 0 : 1
      } finally {
        process.off('SIGINT', onSigint)
      }
    })
}

function printSummary(r: DemoResult): void {
  const identical = r.volumes.filter((v) => v.identical).length
  const lines = [
    '',
    `${r.verified ? 'VERIFIED' : 'NOT VERIFIED'}: session ${r.session}`,
    `  writes        ${r.writes.toLocaleString('en')} acknowledged ` +
      `(${r.writesPerSecond.toLocaleString('en')}/s)${r.writesInDoubt ? `, ${r.writesInDoubt} in doubt` : ''}`,
    `  groups        ${r.groups.toLocaleString('en')} applied; consistency time ` +
      `${r.consistencyTime ? `${isoMicros(r.consistencyTime)} (${clockMicros(r.consistencyTime)})` : '-'}`,
    `  RPO           p50 ${formatMs(r.rpo.p50Ms)}, p90 ${formatMs(r.rpo.p90Ms)}, p99 ` +
      `${formatMs(r.rpo.p99Ms)}, max ${formatMs(r.rpo.maxMs)} (write acknowledged -> its group ` +
      `committed on the secondary)`,
    `  consistency   ${r.groupsChecked} groups checked while writing: ${r.mixedStates} mixed states` +
      (r.violations.length ? `\n                e.g. ${r.violations.slice(0, 3).join('\n                     ')}` : ''),
    `  volumes       ${identical}/${r.volumes.length} byte-identical to the primary${
      identical < r.volumes.length
        ? `: ${r.volumes
            .filter((v) => !v.identical)
            .map((v) => `${v.volume} (${v.differingBlocks} blocks differ)`)
            .join(', ')}`
        : ''
    }`,
    `  processes     demo ${r.pid}, primary ${r.stages.primary.pid}, mover ${r.stages.mover.pid}, ` +
      `applier ${r.stages.applier.pid} (all stopped)`,
    `  logs          ${r.logFile}`,
    `                ${r.stages.primary.log}, ${basename(r.stages.mover.log)}, ${basename(r.stages.applier.log)}`,
    `  look closer   xrc --session ${r.session} status   (also: audit, volume export vol0 vol0.img, ` +
      `replay --into <schema>)`,
  ]
  console.log(lines.join('\n'))
}
