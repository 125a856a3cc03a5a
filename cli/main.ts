#!/usr/bin/env node
/**
 * The `xrc` command: the composition root of every xrc-kafka process.
 * Only this file (and what it calls at start-up) reads process.env.
 */
import { Command, CommanderError } from 'commander'
import { loadConfig, type Config } from '../lib/config.js'
import { ConfigError, XrcError, errorMessage } from '../lib/errors.js'
import { createStack } from '../stack/index.js'

/** Exit codes: 0 ok, 1 failure at run time, 2 bad arguments or configuration. */
const EXIT_USAGE = 2

function configFrom(opts: { config?: string }): Config {
  return loadConfig({ ...(opts.config ? { file: opts.config } : {}), env: process.env })
}

const program = new Command()
  .name('xrc')
  .description('xrc-kafka: asynchronous remote mirroring of block storage through Kafka')
  .option('-c, --config <file>', 'JSON config file (settings: see README)')
  .showHelpAfterError()
  .exitOverride()

const stack = program.command('stack').description('the local Kafka broker, schema registry and PostgreSQL check (no Docker needed)')
stack
  .command('up')
  .description('fetch (first time) and start Kafka and the schema registry; check PostgreSQL')
  .action(async () => {
    const s = createStack(configFrom(program.opts()))
    await s.up((line) => console.log(line))
  })
stack
  .command('down')
  .description('stop the services that `stack up` started')
  .action(async () => {
    await createStack(configFrom(program.opts())).down((line) => console.log(line))
  })
stack
  .command('status')
  .description('show whether each service answers')
  .option('--json', 'one JSON object')
  .action(async (opts: { json?: boolean }) => {
    const st = await createStack(configFrom(program.opts())).status()
    if (opts.json) console.log(JSON.stringify(st))
    else for (const s of st) console.log(`${s.name.padEnd(9)} ${s.state.padEnd(5)} ${s.address}${s.pid ? ` pid ${s.pid}` : ''}${s.managed ? '' : s.state === 'up' ? ' (not managed here)' : ''}  ${s.detail ?? ''}`)
    if (st.some((s) => s.state !== 'up')) process.exitCode = 1
  })

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv)
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE
      return
    }
    if (err instanceof ConfigError) {
      console.error(`xrc: ${err.message}`)
      process.exitCode = EXIT_USAGE
      return
    }
    console.error(`xrc: ${err instanceof XrcError ? `${err.message} [${err.code}]` : errorMessage(err)}`)
    process.exitCode = 1
  }
}

await main()
