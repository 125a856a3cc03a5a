import { InvalidArgumentError, type Command } from 'commander'
import type { Stack } from '../../stack/index.js'
import type { GlobalOptions } from '../context.js'

/** --brokers: 1 (the single broker) or a cluster of 3 to 5 nodes. */
function brokerCount(value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1 || n > 5 || n === 2)
    throw new InvalidArgumentError('1, or 3 to 5 (a quorum of two survives no failure)')
  return n
}

async function stackOf(program: Command, opts: { brokers?: number; secure?: boolean }): Promise<Stack> {
  const { cliConfig } = await import('../context.js')
  const { createStack } = await import('../../stack/index.js')
  const overrides = opts.brokers === undefined ? {} : { stack: { brokers: opts.brokers } }
  return createStack(cliConfig(program.opts<GlobalOptions>(), overrides), { secure: opts.secure === true })
}

export function registerStackCommands(program: Command): void {
  const stack = program
    .command('stack')
    .description(
      'the local Kafka broker (or cluster) and schema registry (jars from Maven Central; no Docker), and a ' +
        'PostgreSQL check',
    )
  stack
    .command('up')
    .description('fetch (first time) and start Kafka and the schema registry; check PostgreSQL. Idempotent.')
    .option(
      '--brokers <n>',
      'Kafka nodes: 1 (stack.kafkaPort) or a KRaft cluster of 3 (stack.clusterPort..); default stack.brokers',
      brokerCount,
    )
    .option(
      '--secure',
      'also a secured broker on stack.securePort (SASL_SSL, SCRAM-SHA-512, a user per stage with its ACLs for ' +
        'session.name); CA, passwords and env files under stack.dir/tls',
    )
    .action(async (opts: { brokers?: number; secure?: boolean }) => {
      await (await stackOf(program, opts)).up((line) => console.log(line))
    })
  stack
    .command('down')
    .description('stop the services that `stack up` started (nothing else): the broker and any local cluster')
    .action(async () => {
      await (await stackOf(program, {})).down((line) => console.log(line))
    })
  stack
    .command('compose-tls')
    .description(
      "make (first time) the secured broker's CA, stores, users and settings for docker/compose.secure.yml under " +
        'docker/tls (git-ignored); --grant, once it runs, grants each stage its ACLs for session.name',
    )
    .option('--grant', "grant each stage's ACLs on the running secured container (as `stack up --secure` does)")
    .action(async (opts: { grant?: boolean }) => {
      const { cliConfig } = await import('../context.js')
      const { grantComposeAcls, writeComposeTls } = await import('../../stack/composeTls.js')
      const config = cliConfig(program.opts<GlobalOptions>())
      const made = writeComposeTls(config)
      console.log(`secured broker's files: ${made.dir} (users.json, an env file per stage)`)
      if (opts.grant) {
        await grantComposeAcls(config, made)
        console.log(`users xrc-primary, xrc-mover, xrc-applier granted their ACLs for session ${config.session.name}`)
      } else {
        console.log(
          'then: docker compose -f docker/compose.yml -f docker/compose.secure.yml up -d; ' +
            'xrc stack compose-tls --grant',
        )
      }
    })
  stack
    .command('status')
    .description('whether each service (each Kafka node) answers; exit 1 when one does not')
    .option(
      '--brokers <n>',
      'the Kafka layout to report; default stack.brokers (a running other one is listed too)',
      brokerCount,
    )
    .option('--json', 'print one JSON array')
    .action(async (opts: { json?: boolean; brokers?: number }) => {
      const st = await (await stackOf(program, opts)).status()
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
