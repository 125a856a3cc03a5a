/**
 * What a user sees when they ask for help or get something wrong: every
 * command (found from `xrc help`, so new ones are covered too) answers
 * --help with exit 0; bad arguments and bad configuration give one clear
 * message naming the option or setting, exit 2, and never a stack trace; a
 * write with no primary running says what to do (exit 1). Help and a
 * mistake load none of the services' packages (cli/main.ts: a command loads
 * its work when it runs).
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { modulesLoadedBy, runCli, stackEnv, type CliResult } from '../kit/cli.js'
import { freePort } from '../kit/ports.js'

const STACK_TRACE = /\n\s+at .+:\d+:\d+/

/** Command names listed in the "Commands:" part of a help text. */
function commandsIn(help: string): string[] {
  // the section ends at the first blank line: examples after it (addHelpText) are not commands
  const section = (help.split(/^Commands:$/m)[1] ?? '').split(/\n\s*\n/)[0] ?? ''
  return [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1] as string).filter((c) => c !== 'help')
}

function expectUsageError(r: CliResult, message: RegExp): void {
  expect(r.code, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(2)
  expect(r.stderr).toMatch(message)
  expect(r.stderr).not.toMatch(STACK_TRACE)
  // one message and a pointer to --help, not a screen of usage
  expect(r.stderr.trim().split('\n').length).toBeLessThanOrEqual(6)
}

describe('--help', () => {
  it('answers for every command and subcommand', async () => {
    const root = await runCli(['--help'])
    expect(root.code).toBe(0)
    const top = commandsIn(root.stdout)
    expect(top).toEqual(
      expect.arrayContaining([
        'stack',
        'primary',
        'mover',
        'applier',
        'demo',
        'status',
        'audit',
        'replay',
        'write',
        'volume',
        'snapshot',
        'verify',
      ]),
    )
    const paths: string[][] = []
    await Promise.all(
      top.map(async (cmd) => {
        const r = await runCli([cmd, '--help'])
        expect(r.code, `${cmd} --help: ${r.stderr}`).toBe(0)
        expect(r.stdout).toMatch(new RegExp(`^Usage: xrc ${cmd}`))
        paths.push(...commandsIn(r.stdout).map((sub) => [cmd, sub]))
      }),
    )
    expect(paths).toEqual(
      expect.arrayContaining([
        ['volume', 'export'],
        ['stack', 'up'],
        ['snapshot', 'create'],
        ['snapshot', 'list'],
        ['snapshot', 'delete'],
        ['snapshot', 'export'],
        ['snapshot', 'diff'],
        ['snapshot', 'serve'],
      ]),
    )
    // three at a time: one process start each, about 40 subcommands; on a loaded machine one at a time passed 120 s
    const queue = [...paths]
    await Promise.all(
      Array.from({ length: 3 }, async () => {
        for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
          const r = await runCli([...p, '--help'])
          expect(r.code, `${p.join(' ')} --help: ${r.stderr}`).toBe(0)
          expect(r.stdout).toMatch(new RegExp(`^Usage: xrc ${p.join(' ')}`))
        }
      }),
    )
  }, 240_000)
})

describe('help and mistakes load none of the services', () => {
  // each one's entry module, what `import 'pkg'` loads: cli/main.ts's start-up patches load a few other files of
  // kafkajs and avsc (lib/kafka/client/kafkaCrc.ts, lib/unfilledBuffers.ts), not the libraries
  const require = createRequire(import.meta.url)
  const SERVICE_PACKAGES = ['kafkajs', '@platformatic/kafka', 'pg', 'avsc', 'prom-client']
  const entries = new Map(SERVICE_PACKAGES.map((p) => [require.resolve(p), p]))
  const cases: [string[], number][] = [
    [['--help'], 0],
    [['snapshot', 'list', '--help'], 0],
    [['bogus'], 2],
    [['replay', '--to-time', 'yesterday'], 2],
  ]
  for (const [args, code] of cases) {
    it(`xrc ${args.join(' ')}`, async () => {
      const { result, modules } = await modulesLoadedBy(args)
      expect(result.code, result.stderr).toBe(code)
      // the recorder saw the CLI itself and commander: it did record
      expect(modules).toEqual(expect.arrayContaining([require.resolve('commander')]))
      expect(modules.some((m) => m.endsWith(join('dist', 'cli', 'main.js')))).toBe(true)
      expect(modules.flatMap((m) => entries.get(m) ?? [])).toEqual([])
    })
  }
})

describe('bad arguments and configuration: one message, exit 2', () => {
  const cases: [string[], RegExp][] = [
    [['bogus'], /unknown command 'bogus'/],
    // a help flag after an unknown command is no way to pass (exit 0 with the root help)
    [['verifyy', '--help'], /unknown command 'verifyy'/],
    [['help', 'verifyy'], /unknown command 'verifyy'/],
    [['stack', 'nosuch', '-h'], /unknown command 'nosuch'/],
    [['demo', '--duration', 'soon'], /--duration <time>' argument 'soon' is invalid\. expected a duration/],
    [['demo', '--writers', '1'], /--writers <n>' argument '1' is invalid\. expected an integer from 2 to 256/],
    [['audit', '--topic', 'x'], /--topic <topic>' argument 'x' is invalid\. Allowed choices are updates, journal, dlq/],
    [
      ['audit', '--from-offset', '1', '--from-time', '2025-01-01T00:00:00Z'],
      /--from-offset <offset>' cannot be used with option '--from-time/,
    ],
    [['replay', '--to-time', 'yesterday'], /--to-time <time>' argument 'yesterday' is invalid\. expected an ISO 8601/],
    [
      ['replay', '--into', 'Bad-Name'],
      /--into <schema>' argument 'Bad-Name' is invalid\. expected a lower-case PostgreSQL identifier/,
    ],
    [['write', 'vol0'], /missing required argument 'block'/],
    [
      ['snapshot', 'create', '--at-group', '3', '--at-time', '2025-01-01T00:00:00Z'],
      /--at-time <time>' cannot be used with option '--at-group/,
    ],
    [
      ['snapshot', 'create', '--at-group', '0'],
      /--at-group <n>' argument '0' is invalid\. expected an integer of at least 1/,
    ],
    [['snapshot', 'diff', 'a'], /missing required argument 'b'/],
    [['snapshot', 'list', '--schema', 'X'], /--schema <schema>' argument 'X' is invalid/],
    [['write', 'vol0', '-3'], /argument 'block'.*expected an integer of at least 0/],
    [['write', 'nosuch', '0', '/dev/null'], /volume "nosuch" is not in session demo \(session\.controllers: vol0/],
    [['volume', 'export', 'vol0'], /missing required argument 'file'/],
    [['status', '--primary', 'ftp://x'], /--primary <url>' argument 'ftp:\/\/x' is invalid/],
    [['--log-level', 'loud', 'status'], /log\.level: Invalid option/],
    [['--session', 'no spaces', 'status'], /session\.name: letters, digits/],
  ]
  for (const [args, message] of cases) {
    it(`xrc ${args.join(' ')}`, async () => expectUsageError(await runCli(args), message))
  }

  it('names every bad setting of a config file and of the environment at once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'xrc-usage-'))
    const file = join(dir, 'xrc.json')
    writeFileSync(file, JSON.stringify({ bogus: 1, mover: { groupIntervalMs: -5 }, session: { blockSize: 1000 } }))
    const r = await runCli(['--config', file, 'status'], { env: { XRC_KAFKA_PORT: 'abc' } })
    expectUsageError(r, /invalid configuration:/)
    for (const setting of ['XRC_KAFKA_PORT (stack.kafkaPort)', 'mover.groupIntervalMs', 'session.blockSize', 'bogus'])
      expect(r.stderr).toContain(`- ${setting}:`)
    expectUsageError(
      await runCli(['--config', join(dir, 'missing.json'), 'status']),
      /config file .*missing\.json: ENOENT/,
    )
  })
})

it('a write with no primary running says how to start one (exit 1)', async () => {
  const port = await freePort()
  const r = await runCli(['write', 'vol0', '0', '--primary', `http://127.0.0.1:${port}`], {
    input: Buffer.alloc(4096),
    env: stackEnv(),
  })
  expect(r.code).toBe(1)
  expect(r.stderr).toMatch(
    /no primary answers at http:\/\/127\.0\.0\.1:\d+ \(nothing listens there\): start one with `xrc primary`.*\[XRC_PRIMARY_UNREACHABLE\]/,
  )
  expect(r.stderr).not.toMatch(STACK_TRACE)
})
