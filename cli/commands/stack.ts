import type { Command } from 'commander'
import { createStack } from '../../stack/index.js'
import { cliConfig, type GlobalOptions } from '../context.js'

export function registerStackCommands(program: Command): void {
  const stack = program
    .command('stack')
    .description(
      'the local Kafka broker and schema registry (jars from Maven Central; no Docker), and a PostgreSQL check',
    )
  stack
    .command('up')
    .description('fetch (first time) and start Kafka and the schema registry; check PostgreSQL. Idempotent.')
    .action(async () => {
      await createStack(cliConfig(program.opts<GlobalOptions>())).up((line) => console.log(line))
    })
  stack
    .command('down')
    .description('stop the services that `stack up` started (nothing else)')
    .action(async () => {
      await createStack(cliConfig(program.opts<GlobalOptions>())).down((line) => console.log(line))
    })
  stack
    .command('status')
    .description('whether each service answers; exit 1 when one does not')
    .option('--json', 'print one JSON array')
    .action(async (opts: { json?: boolean }) => {
      const st = await createStack(cliConfig(program.opts<GlobalOptions>())).status()
      if (opts.json) console.log(JSON.stringify(st))
      else
        for (const s of st) {
          const who = s.state === 'up' && !s.managed ? ' (not started by this stack)' : ''
          console.log(
            `${s.name.padEnd(9)} ${s.state.padEnd(5)} ${s.address}${s.pid ? ` pid ${s.pid}` : ''}${who}  ` +
              `${s.detail ?? ''}`,
          )
        }
      if (st.some((s) => s.state !== 'up')) process.exitCode = 1
    })
}
