#!/usr/bin/env node
/**
 * The `xrc` command: the composition root of every xrc-kafka process.
 * Exit codes: 0 success, 1 failure at run time, 2 bad arguments or
 * configuration (one clear message naming the setting, never a stack trace).
 *
 * A command loads only what it runs. This file and cli/commands/*.ts import
 * at the top only what the definitions (names, arguments, options, help
 * texts, parsers) and their print helpers need, all of it light: commander,
 * node builtins, lib/errors, cli/args, text helpers (cli/format,
 * cli/progress...), a help text's constant from its own small module rather
 * than a barrel, and `import type` of anything. The work (cli/context with
 * zod and pino, and all that loads kafkajs, @platformatic/kafka, pg, avsc or
 * prom-client) the function that runs it imports at its start:
 * `const { runAudit } = await import('../audit/runAudit.js')`. So help and
 * mistakes answer at once (loading every service first took 1.2 s of CPU),
 * and test/integration/cli-usage.test.ts checks that they load none of it.
 */
// first: kafkajs must find the native CRC-32C when it loads (lib/kafka/client/kafkaCrc.ts). Both load only
// the few files of kafkajs and avsc they patch, so they stay here, before any command loads its work.
import '../lib/kafka/client/kafkaCrc.js'
import '../lib/unfilledBuffers.js'
import { Command, CommanderError } from 'commander'
import { ConfigError, XrcError, errorMessage } from '../lib/errors.js'
import { registerAuditCommand } from './commands/audit.js'
import { registerDemoCommand } from './commands/demo.js'
import { registerFailoverCommands } from './commands/failover.js'
import { registerDrillCommands } from './commands/drill.js'
import { registerReplayCommand } from './commands/replay.js'
import { registerResyncCommands } from './commands/resync.js'
import { registerServiceCommands } from './commands/services.js'
import { registerSessionCommands } from './commands/session.js'
import { registerSnapshotCommands } from './commands/snapshot.js'
import { registerStatusCommand } from './commands/status.js'
import { registerVolumeCommands } from './commands/volume.js'
import { registerVerifyCommand } from './commands/verify.js'
import { registerWriteCommand } from './commands/write.js'
import { registerStackCommands } from './commands/stack.js'
import { refuseUnknownCommands } from './unknownCommand.js'

export const EXIT_USAGE = 2

const program = new Command()
  .name('xrc')
  .description('xrc-kafka: asynchronous remote mirroring of block storage through Kafka')
  .option('-c, --config <file>', 'JSON config file (settings: see README)')
  .option('-s, --session <name>', 'session name (overrides the config)')
  .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent')
  // one clear message, then where to look: the whole help after every mistake buries the message
  .showHelpAfterError('(see xrc <command> --help)')
  .exitOverride()
  .configureOutput({ outputError: (str, write) => write(`xrc: ${str.replace(/^error: /, '')}`) })

registerStackCommands(program)
registerServiceCommands(program)
registerSessionCommands(program)
registerDemoCommand(program)
registerStatusCommand(program)
registerAuditCommand(program)
registerReplayCommand(program)
registerWriteCommand(program)
registerVolumeCommands(program)
registerResyncCommands(program)
registerSnapshotCommands(program)
registerVerifyCommand(program)
registerFailoverCommands(program)
registerDrillCommands(program)
refuseUnknownCommands(program)

try {
  await program.parseAsync(process.argv)
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE
  } else if (err instanceof ConfigError || (err instanceof XrcError && err.code === 'XRC_USAGE')) {
    console.error(`xrc: ${err.message}`)
    process.exitCode = EXIT_USAGE
  } else {
    console.error(`xrc: ${err instanceof XrcError ? `${err.message} [${err.code}]` : errorMessage(err)}`)
    process.exitCode = 1
  }
}
