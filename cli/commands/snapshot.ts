/**
 * `xrc snapshot create | list | delete | export | diff`: point-in-time
 * images of a secondary made without copying data (applier/store/snapshots.ts
 * does the work; its TSDoc states the contracts). Each takes --schema to
 * pick the secondary (default applier.schema) and --json for one JSON line;
 * the long ones (delete, export, diff) show their elapsed time while they
 * run, on stderr with --json.
 */
import { registerSnapshotServe } from './snapshotServe.js'
import { Option, type Command } from 'commander'
import type { DeleteResult, SnapshotDiff, SnapshotInfo, Snapshots } from '../../applier/index.js'
// from its own module, not the applier barrel: the help text shows it
import { LIVE_IMAGE } from '../../applier/store/snapshotRules.js'
import type { Config } from '../../lib/config.js'
import { integerArg, parseSchemaName, parseTime } from '../args.js'
import type { GlobalOptions } from '../context.js'
import { formatBytes, formatMs, isoMicros, jsonLine } from '../format.js'
import { createProgressOutput } from '../progress.js'

interface CommonFlags {
  schema?: string
  json?: boolean
}

interface CreateFlags extends CommonFlags {
  name?: string
  atGroup?: number
  atTime?: number
}

const EXAMPLES = `
Examples:
  xrc snapshot create --name before-upgrade        pin the newest applied group now
  xrc snapshot create --at-group 1200              taken when the applier reaches group 1200
  xrc snapshot create --at-time 2025-05-01T12:00:00Z
  xrc snapshot list
  xrc snapshot export before-upgrade vol0 vol0.img
  xrc snapshot diff before-upgrade live            blocks changed since the snapshot
  xrc snapshot delete before-upgrade
  xrc snapshot serve before-upgrade --listen 127.0.0.1:10809   read-only over NBD (qemu-img, nbdcopy)
Recover to a snapshot's group in a new schema: xrc replay --into copy --to-group <group>`

/** Registers `xrc snapshot` and its subcommands. */
export function registerSnapshotCommands(program: Command): void {
  const snapshot = program
    .command('snapshot')
    .description('point-in-time images of the secondary, made without copying data (copy on write)')
    .addHelpText('after', EXAMPLES)
  registerCreate(program, snapshot)
  registerSnapshotServe(snapshot, program)
  withCommon(snapshot.command('list').description('list the snapshots: group, T, state, space held')).action(
    (flags: CommonFlags) => withSnapshots(program, flags, 'xrc-snapshot', (s) => listSnapshots(s, flags)),
  )
  withCommon(
    snapshot
      .command('delete')
      .description('delete a snapshot and free the block versions no other snapshot needs')
      .argument('<name>', 'snapshot name'),
  ).action((name: string, flags: CommonFlags) =>
    withSnapshots(program, flags, 'xrc-snapshot', (s) => deleteSnapshot(s, name, flags)),
  )
  withCommon(
    snapshot
      .command('export')
      .description("write a volume's image as of a snapshot to a file")
      .argument('<snapshot>', 'snapshot name')
      .argument('<volume>', 'volume name')
      .argument('<file>', 'output file (replaced)'),
  ).action((name: string, volume: string, file: string, flags: CommonFlags) =>
    withSnapshots(program, flags, 'xrc-snapshot', async (s, config) => {
      const { volumeOf } = await import('../context.js')
      volumeOf(config, volume)
      return exportSnapshot(s, { name, volume, file }, flags)
    }),
  )
  withCommon(
    snapshot
      .command('diff')
      .description(`the blocks that differ between two images, per volume ('${LIVE_IMAGE}': the live image)`)
      .argument('<a>', `snapshot name, or '${LIVE_IMAGE}'`)
      .argument('<b>', `snapshot name, or '${LIVE_IMAGE}'`),
  ).action((a: string, b: string, flags: CommonFlags) =>
    withSnapshots(program, flags, 'xrc-snapshot', (s) => diffSnapshots(s, a, b, flags)),
  )
}

function registerCreate(program: Command, snapshot: Command): void {
  withCommon(
    snapshot
      .command('create')
      .description('pin the newest applied group now, or a group or time ahead (pending until the applier reaches it)')
      .option('--name <name>', 'snapshot name (default group-<seq>, at-group-<n> or at-time-<T>)')
      .option('--at-group <n>', 'take it once this group is applied', integerArg(1))
      .addOption(
        new Option('--at-time <time>', 'take it at the last group with T <= this (ISO 8601, or ms/µs since the epoch)')
          .argParser(parseTime)
          .conflicts('atGroup'),
      ),
  ).action((flags: CreateFlags) =>
    withSnapshots(program, flags, 'xrc-snapshot', async (s) => {
      const info = await s.create({
        ...(flags.name !== undefined ? { name: flags.name } : {}),
        ...(flags.atGroup !== undefined ? { atGroup: flags.atGroup } : {}),
        ...(flags.atTime !== undefined ? { atTime: flags.atTime } : {}),
      })
      console.log(flags.json ? jsonLine(info) : `created snapshot "${info.name}": ${describeState(info)}`)
    }),
  )
}

function withCommon(command: Command): Command {
  return command
    .option(
      '--schema <schema>',
      "the secondary's PostgreSQL schema (default applier.schema; e.g. a replay target)",
      parseSchemaName,
    )
    .option('--json', 'print the result as one JSON line')
}

/** Runs `work` on the snapshots of the chosen secondary, with a pool ended afterwards. */
async function withSnapshots(
  program: Command,
  flags: CommonFlags,
  name: string,
  work: (snapshots: Snapshots, config: Config) => Promise<void>,
): Promise<void> {
  const { cliConfig, commandLogger } = await import('../context.js')
  const { checkPostgres } = await import('../../stack/postgres.js')
  const { createPool } = await import('../../lib/postgres.js')
  const { createFaultPoints } = await import('../../lib/faultPoints.js')
  const { createSnapshots } = await import('../../applier/index.js')
  const opts = program.opts<GlobalOptions>()
  const config = cliConfig(opts)
  const logger = commandLogger(opts, name)
  await checkPostgres(config.database.url, 5000)
  const pool = createPool({ url: config.database.url, logger, max: 2, applicationName: name })
  try {
    const schema = flags.schema ?? config.applier.schema
    const faults = createFaultPoints(config.faults.point, logger)
    await work(createSnapshots({ pool, schema, session: config.session.name, logger, faults }), config)
  } finally {
    await pool.end()
    logger.flush()
  }
}

/** Runs `work` with a status line showing its elapsed time (on stderr with --json). */
async function withElapsed<T>(label: string, json: boolean | undefined, work: () => Promise<T>): Promise<T> {
  const progress = createProgressOutput(json ? process.stderr : process.stdout, { plainEveryMs: 5000 })
  const started = performance.now()
  const timer = setInterval(() => progress.update(`${label}  ${formatMs(performance.now() - started)}`), 500)
  try {
    return await work()
  } finally {
    clearInterval(timer)
    progress.end()
  }
}

function describeState(s: SnapshotInfo): string {
  if (s.state === 'active') return `active at group ${s.groupSeq}, T ${isoMicros(s.groupTime ?? 0)}`
  const target = s.atGroup !== undefined ? `group ${s.atGroup}` : `T ${isoMicros(s.atTime ?? 0)}`
  return s.waitingFor === 'consistent-image'
    ? `pending: target ${target} reached, waiting for a consistent image (a resync is being applied)`
    : `pending: taken when the applier reaches ${target}`
}

async function listSnapshots(s: Snapshots, flags: CommonFlags): Promise<void> {
  const list = await s.list()
  if (flags.json) {
    console.log(jsonLine(list))
    return
  }
  if (list.length === 0) {
    console.log('no snapshots')
    return
  }
  const rows = list.map((i) => [
    i.name,
    i.state,
    i.groupSeq === undefined ? '-' : String(i.groupSeq),
    i.groupTime === undefined ? '-' : isoMicros(i.groupTime),
    formatBytes(i.bytesHeld),
    formatBytes(i.bytesOwned),
    i.waitingFor === undefined ? '-' : waitingFor(i),
  ])
  console.log(table(['NAME', 'STATE', 'GROUP', 'T', 'HELD', 'OWNED', 'WAITING FOR'], rows))
}

function waitingFor(i: SnapshotInfo): string {
  if (i.waitingFor === 'consistent-image') return 'a consistent image'
  return i.atGroup !== undefined ? `group ${i.atGroup}` : `T ${isoMicros(i.atTime ?? 0)}`
}

/** Columns padded to their widest cell. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)))
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => cell.padEnd(widths[c] ?? 0))
      .join('  ')
      .trimEnd()
  return [line(header), ...rows.map(line)].join('\n')
}

async function deleteSnapshot(s: Snapshots, name: string, flags: CommonFlags): Promise<void> {
  const r: DeleteResult = await withElapsed(`deleting snapshot "${name}"`, flags.json, () => s.delete(name))
  console.log(
    flags.json
      ? jsonLine(r)
      : `deleted snapshot "${r.name}": freed ${r.versionsFreed} block versions (${formatBytes(r.bytesFreed)} stored)`,
  )
}

async function exportSnapshot(
  s: Snapshots,
  what: { name: string; volume: string; file: string },
  flags: CommonFlags,
): Promise<void> {
  const { name, volume, file } = what
  const r = await withElapsed(`exporting ${volume} as of snapshot "${name}"`, flags.json, () =>
    s.export(name, volume, file),
  )
  const asOf = r.asOf ? { groupSeq: r.asOf.groupSeq, groupTime: r.asOf.groupTime } : {}
  if (flags.json) {
    console.log(jsonLine({ snapshot: name, volume, path: file, bytes: r.bytes, storedBlocks: r.storedBlocks, ...asOf }))
    return
  }
  const at = `group ${r.asOf?.groupSeq}, T ${isoMicros(r.asOf?.groupTime ?? 0)}`
  console.log(
    `exported ${volume} as of snapshot "${name}" (${at}): ` +
      `${formatBytes(r.bytes)} (${r.storedBlocks} blocks written, the rest zeros) to ${file}`,
  )
}

async function diffSnapshots(s: Snapshots, a: string, b: string, flags: CommonFlags): Promise<void> {
  const d: SnapshotDiff = await withElapsed(`comparing ${a} with ${b}`, flags.json, () => s.diff(a, b))
  if (flags.json) {
    console.log(jsonLine(d))
    return
  }
  const of = (x: SnapshotDiff['from']) =>
    `${x.name} (${x.asOf ? `group ${x.asOf.groupSeq}, T ${isoMicros(x.asOf.groupTime)}` : 'no group applied'})`
  const lines = [`${of(d.from)} -> ${of(d.to)}`]
  for (const v of d.volumes) {
    const ranges = v.ranges.map((r) => (r.first === r.last ? `${r.first}` : `${r.first}-${r.last}`))
    lines.push(`  ${v.volume}: ${v.changedBlocks} blocks changed${ranges.length > 0 ? `: ${ranges.join(', ')}` : ''}`)
  }
  console.log(lines.join('\n'))
}
