/**
 * Commander shows the help of the nearest known command when `--help`
 * follows an unknown one (`xrc verify --help` printed the root help and
 * exited 0), so a typo in a script passed as a successful call. Every
 * command with subcommands here refuses an unknown one first, help flag or
 * not: the same "unknown command" error, exit code 2 (cli/main.ts).
 */
import type { Command } from 'commander'

/** Makes `root` and every command under it that has subcommands refuse an unknown one before showing help. */
export function refuseUnknownCommands(root: Command): void {
  // a command that takes operands of its own reads an unknown word as one of them
  if (root.commands.length > 0 && root.registeredArguments.length === 0) {
    root.on('beforeHelp', () => {
      // commander sets args (operands first, then unknown options) before it looks for a help flag
      const [first, second] = root.args
      const name = first === 'help' ? second : first
      if (name === undefined || name.startsWith('-') || isCommand(root, name)) return
      root.error(`error: unknown command '${name}'`, { code: 'commander.unknownCommand' })
    })
  }
  for (const sub of root.commands) refuseUnknownCommands(sub)
}

function isCommand(parent: Command, name: string): boolean {
  return name === 'help' || parent.commands.some((c) => c.name() === name || c.aliases().includes(name))
}
