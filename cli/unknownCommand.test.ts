import { Command, CommanderError } from 'commander'
import { describe, expect, it } from 'vitest'
import { refuseUnknownCommands } from './unknownCommand.js'

/** A small tree like xrc's: the root, a group with subcommands, a command with operands. */
function program(): { root: Command; out: string[] } {
  const out: string[] = []
  const root = new Command('xrc')
    .exitOverride()
    .configureOutput({ writeOut: (s) => out.push(s), writeErr: (s) => out.push(s) })
  root.command('status').action(() => undefined)
  const stack = root.command('stack')
  stack.command('up').action(() => undefined)
  root
    .command('write')
    .argument('<volume>')
    .action(() => undefined)
  refuseUnknownCommands(root)
  return { root, out }
}

async function parse(args: string[]): Promise<{ code: string; exitCode: number; out: string }> {
  const { root, out } = program()
  try {
    await root.parseAsync(args, { from: 'user' })
    return { code: 'ok', exitCode: 0, out: out.join('') }
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err
    return { code: err.code, exitCode: err.exitCode, out: out.join('') }
  }
}

describe('unknown commands', () => {
  it.each([[['verify', '--help']], [['verify', '-h']], [['help', 'verify']], [['stack', 'nosuch', '--help']]])(
    'xrc %j is an unknown command, not help',
    async (args) => {
      const r = await parse(args)
      expect(r.code).toBe('commander.unknownCommand')
      expect(r.exitCode).not.toBe(0)
      expect(r.out).toMatch(/unknown command '(verify|nosuch)'/)
      expect(r.out).not.toMatch(/Usage:/)
    },
  )

  it.each([
    [['--help']],
    [['status', '--help']],
    [['stack', '--help']],
    [['help', 'stack']],
    [['write', 'x', '--help']],
  ])('xrc %j still shows help', async (args) => {
    const r = await parse(args)
    expect(r.exitCode).toBe(0)
    expect(r.out).toMatch(/^Usage: xrc/)
  })
})
