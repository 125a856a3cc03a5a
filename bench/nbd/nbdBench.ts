/**
 * `npm run bench -- --nbd [--seconds 60]`: fio through the primary's NBD
 * front end (issue 13). The services run as the operator runs them (`xrc
 * primary`, `xrc mover`, `xrc applier`, child processes of the built CLI,
 * one config file), fio talks to the primary's Unix socket with its nbd
 * engine. Phases, each on a fresh (sparse) volume:
 *   (a) mirrored: 4 KiB random writes, queue depth 16, then 64 KiB sequential writes; then the 4 KiB
 *       phase again with the mover and the applier frozen (SIGSTOP), which tells the primary's own
 *       cost (sidefile, Kafka) from the cost of sharing the machine with the rest of the pipeline
 *   (b) the session suspended (POST /v1/suspend): the same two
 *   (c) fio on a plain file: 4 KiB random writes at queue depth 16 with
 *       O_DIRECT|O_DSYNC (libaio), each write durable when it completes, as an
 *       acknowledged NBD write is; and psync with fsync=1 at depth 1 for reference
 * Each phase starts once the secondary has applied every write of the one
 * before (its lag is reported), so no phase shares the cores with the last
 * one's backlog. Targets: (a) IOPS >= 0.8 x (b), (a) p99 <= 1.5 x (b). Results go to
 * bench/results/nbd.json and bench/results/nbd.md; a missed target is
 * reported, never an error.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import type { LoadOptions } from '../../lib/config.js'
import { XrcError } from '../../lib/errors.js'
import { waitFor } from '../../lib/retry.js'
import { REPO_ROOT } from '../../stack/paths.js'
import { createBenchSession } from '../benchSession.js'

const run = promisify(execFile)
const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js')

export interface FioFigures {
  iops: number
  mibPerSecond: number
  latencyMs: { p50: number; p99: number; p999: number }
}

export interface NbdBenchReport {
  generatedAt: string
  seconds: number
  fio: string
  phases: Record<string, FioFigures>
  /** Per mirrored phase: seconds from its end until the secondary had applied every write (before the next phase). */
  catchUpSeconds?: Record<string, number>
  targets: { name: string; measured: string; met: boolean }[]
}

/** The parts of the primary's /v1/status the bench waits on. */
interface PrimaryStatusJson {
  controllers: { latestTime: number; sidefile: { entries: number } }[]
  mirror: { secondaries?: { groupTime?: number }[] }
}

interface Service {
  child: ChildProcess
  announced: Record<string, unknown>
}

async function startService(service: string, configFile: string, dir: string): Promise<Service> {
  const child = spawn(process.execPath, [CLI, '--config', configFile, service], { stdio: ['ignore', 'pipe', 'pipe'] })
  child.stderr?.pipe(createWriteStream(join(dir, `${service}.log`)))
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve)
    child.once('exit', (code) => reject(new XrcError('XRC_STACK_START_FAILED', `${service} exited with ${code}`)))
  })
  return { child, announced: JSON.parse(line) as Record<string, unknown> }
}

async function stopService(s: Service): Promise<void> {
  if (s.child.exitCode !== null) return
  const exited = new Promise((resolve) => s.child.once('exit', resolve))
  s.child.kill('SIGTERM')
  await exited
}

async function fio(cwd: string, args: string[]): Promise<FioFigures> {
  const { stdout } = await run(
    'fio',
    ['--output-format=json', '--percentile_list=50:99:99.9', '--group_reporting', ...args],
    {
      maxBuffer: 64 << 20,
      cwd,
    },
  )
  const json = JSON.parse(stdout.slice(stdout.indexOf('{'))) as {
    jobs: {
      error: number
      write: { iops: number; bw_bytes: number; clat_ns: { percentile: Record<string, number> } }
    }[]
  }
  const job = json.jobs[0]
  if (!job || job.error !== 0) throw new XrcError('XRC_USAGE', `fio failed: ${stdout.slice(-2000)}`)
  const p = job.write.clat_ns.percentile
  const ms = (key: string): number => Math.round(((p[key] ?? 0) / 1e6) * 1000) / 1000
  return {
    iops: Math.round(job.write.iops),
    mibPerSecond: Math.round((job.write.bw_bytes / (1 << 20)) * 10) / 10,
    latencyMs: { p50: ms('50.000000'), p99: ms('99.000000'), p999: ms('99.900000') },
  }
}

export async function runNbdBench(options: {
  load: LoadOptions
  seconds: number
  resultsDir: string
  log: (m: string) => void
}): Promise<NbdBenchReport> {
  const { seconds, log } = options
  const blocks = 16384 // 64 MiB volumes
  const session = await createBenchSession({ load: options.load, blocksPerVolume: blocks })
  const services: Service[] = []
  try {
    const config = {
      ...session.config,
      nbd: { ...session.config.nbd, port: -1 },
      producer: { ...session.config.producer, apiPort: 0 },
    }
    const configFile = join(session.dir, 'xrc.json')
    await writeFile(configFile, JSON.stringify(config, null, 2))
    for (const s of ['primary', 'mover', 'applier']) services.push(await startService(s, configFile, session.dir))
    const announced = services[0]?.announced as { api: string; nbd: { socket: string } }
    const uri = (volume: string): string => `--uri=nbd+unix:///${volume}?socket=${announced.nbd.socket}`
    const random = [
      '--name=rand4k',
      '--ioengine=nbd',
      '--rw=randwrite',
      '--bs=4k',
      '--iodepth=16',
      `--runtime=${seconds}`,
      '--time_based',
    ]
    const sequential = [
      '--name=seq64k',
      '--ioengine=nbd',
      '--rw=write',
      '--bs=64k',
      '--iodepth=16',
      `--runtime=${Math.max(3, Math.round(seconds / 3))}`,
      '--time_based',
    ]
    const status = async (): Promise<PrimaryStatusJson> =>
      (await (await fetch(`${announced.api}/v1/status`)).json()) as PrimaryStatusJson
    const drained = async (): Promise<void> => {
      await waitFor(
        'the sidefiles to drain',
        async () => (await status()).controllers.every((c) => c.sidefile.entries === 0) || undefined,
        { timeoutMs: 300_000, intervalMs: 500 },
      )
    }
    // A phase starts on an idle pipeline: the mover and applier applying the last phase's backlog on the same
    // cores would lower the next phase's figures (the suspended phase, after the frozen one, met a backlog of
    // every write of that phase). The seconds it took are the mirror's lag at the end of the phase.
    const catchUpSeconds: Record<string, number> = {}
    const caughtUp = async (phase: string): Promise<void> => {
      const began = Date.now()
      await waitFor(
        'the secondary to apply every write',
        async () => {
          const st = await status()
          const newest = Math.max(...st.controllers.map((c) => c.latestTime))
          const heard = st.mirror.secondaries ?? []
          return (heard.length > 0 && heard.every((s) => (s.groupTime ?? 0) >= newest)) || undefined
        },
        { timeoutMs: 600_000, intervalMs: 250 },
      )
      catchUpSeconds[phase] = Math.round((Date.now() - began) / 100) / 10
      log(`nbd: ${phase}: the secondary caught up ${catchUpSeconds[phase]} s after the phase`)
    }
    const phases: Record<string, FioFigures> = {}
    log(`nbd: (a) mirrored, 4 KiB random writes for ${seconds} s`)
    phases['a-mirrored-rand4k'] = await fio(session.dir, [...random, uri('c0v0')])
    await caughtUp('a-mirrored-rand4k')
    phases['a-mirrored-seq64k'] = await fio(session.dir, [...sequential, uri('c1v0')])
    await caughtUp('a-mirrored-seq64k')
    log('nbd: (a) mirrored, mover and applier frozen')
    for (const s of services.slice(1)) s.child.kill('SIGSTOP')
    try {
      phases['a-mirrored-rand4k-mover-applier-frozen'] = await fio(session.dir, [...random, uri('c0v0'), '--offset=0'])
      await drained()
    } finally {
      for (const s of services.slice(1)) s.child.kill('SIGCONT')
    }
    await caughtUp('a-mirrored-rand4k-mover-applier-frozen')
    log('nbd: (b) suspended')
    const suspended = await fetch(`${announced.api}/v1/suspend`, { method: 'POST' })
    if (!suspended.ok) throw new XrcError('XRC_USAGE', `suspend answered ${suspended.status}`)
    phases['b-suspended-rand4k'] = await fio(session.dir, [...random, uri('c0v1')])
    phases['b-suspended-seq64k'] = await fio(session.dir, [...sequential, uri('c1v1')])
    log('nbd: (c) plain file')
    const plain = join(session.dir, 'plain.img')
    const file = [
      `--filename=${plain}`,
      `--size=${blocks * 4096}`,
      '--rw=randwrite',
      '--bs=4k',
      `--runtime=${seconds}`,
      '--time_based',
    ]
    phases['c-plain-odirect-odsync-qd16'] = await fio(session.dir, [
      '--name=plain',
      '--ioengine=libaio',
      '--direct=1',
      '--sync=dsync',
      '--iodepth=16',
      ...file,
    ])
    phases['c-plain-psync-fsync1-qd1'] = await fio(session.dir, [
      '--name=plain1',
      '--ioengine=psync',
      '--fsync=1',
      ...file,
    ])
    const a = phases['a-mirrored-rand4k'] as FioFigures
    const b = phases['b-suspended-rand4k'] as FioFigures
    const report: NbdBenchReport = {
      generatedAt: new Date().toISOString(),
      seconds,
      fio: (await run('fio', ['--version'])).stdout.trim(),
      phases,
      catchUpSeconds,
      targets: [
        {
          name: '(a) mirrored IOPS >= 0.8 x (b) suspended',
          measured: `${a.iops} vs ${b.iops} (${ratio(a.iops, b.iops)}x)`,
          met: a.iops >= 0.8 * b.iops,
        },
        {
          name: '(a) mirrored p99 <= 1.5 x (b) suspended',
          measured: `${a.latencyMs.p99} ms vs ${b.latencyMs.p99} ms (${ratio(a.latencyMs.p99, b.latencyMs.p99)}x)`,
          met: a.latencyMs.p99 <= 1.5 * b.latencyMs.p99,
        },
      ],
    }
    await mkdir(options.resultsDir, { recursive: true })
    await writeFile(join(options.resultsDir, 'nbd.json'), `${JSON.stringify(report, null, 2)}\n`)
    await writeFile(join(options.resultsDir, 'nbd.md'), renderNbdReport(report))
    return report
  } finally {
    for (const s of services.reverse()) await stopService(s)
    for (const p of await session.cleanup()) log(`cleanup: ${p}`)
  }
}

export function renderNbdReport(r: NbdBenchReport): string {
  const rows = Object.entries(r.phases).map(
    ([name, f]) =>
      `| ${name} | ${f.iops} | ${f.mibPerSecond} | ${f.latencyMs.p50} | ${f.latencyMs.p99} | ${f.latencyMs.p999} | ${
        r.catchUpSeconds?.[name] !== undefined ? `${r.catchUpSeconds[name]} s` : ''
      } |`,
  )
  return [
    `# NBD benchmark (${r.generatedAt}, ${r.seconds} s per random phase, ${r.fio})`,
    '',
    '| phase | IOPS | MiB/s | p50 ms | p99 ms | p99.9 ms | caught up after |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    ...r.targets.map((t) => `- ${t.met ? 'met' : 'MISSED'}: ${t.name}: ${t.measured}`),
    '',
  ].join('\n')
}

/** `a / b` to two decimals, as the targets report it. */
function ratio(a: number, b: number): string {
  return (a / b).toFixed(2)
}
