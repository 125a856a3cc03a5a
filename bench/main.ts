#!/usr/bin/env node
/**
 * `npm run bench [-- --quick] [-- --runs N] [-- --backlog blocks] [-- --config file] [-- --cpu-prof] [-- --render]`,
 * `npm run bench -- --nbd [--seconds 60]` (fio through the NBD front end only, bench/nbd/nbdBench.ts),
 * `npm run bench -- --snapshots [--quick]` (issue 14's snapshot targets only, bench/snapshots/snapshotBench.ts),
 * `npm run bench -- --failover [--quick]` (issue 17's verify and failback targets only, bench/failover/):
 * the benchmark's composition root. It reads its flags and the environment
 * (through loadConfig, like every xrc process), runs the measurements on
 * the local stack (benchRun.ts), and writes the results:
 *   full run:  bench/results/latest.json and BENCHMARKS.md
 *   --quick:   bench/results/quick.json and bench/results/quick.md
 *   --render:  no measuring; the Markdown again from the saved JSON
 * and, after the runs (full and --quick alike), issue 17's failover bench on
 * a session of its own: bench/results/failover(-quick).json and .md.
 * A missed target is reported, never an error: the exit code is non-zero
 * only when the harness itself fails (the stack is unreachable, a stage
 * dies, a phase never drains).
 */
// first: kafkajs must find the native CRC-32C when it loads (lib/kafka/client/kafkaCrc.ts)
import '../lib/kafka/client/kafkaCrc.js'
import '../lib/unfilledBuffers.js'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { loadConfig, type Config, type LoadOptions } from '../lib/config.js'
import { XrcError, errorMessage } from '../lib/errors.js'
import { createKafkaClient } from '../lib/kafka/index.js'
import { silentLogger } from '../lib/logger.js'
import { REPO_ROOT } from '../stack/paths.js'
import { createBenchSession } from './benchSession.js'
import { benchRun, type RunResult } from './benchRun.js'
import { describeMachine, loadAverage } from './machine.js'
import { FAILOVER_PROFILES, runFailoverBench } from './failover/failoverBench.js'
import { renderFailoverReport } from './failover/failoverReport.js'
import { renderNbdReport, runNbdBench } from './nbd/nbdBench.js'
import { PROFILES, type BenchProfile } from './profiles.js'
import { renderSnapshotReport } from './snapshots/snapshotReport.js'
import { SNAPSHOT_PROFILES, runSnapshotBench } from './snapshots/snapshotBench.js'
import { buildReport, renderMarkdown, type Report } from './report.js'

const log = (message: string): void => void process.stderr.write(`bench: ${message}\n`)

/** Fails early, with the command that fixes it, when a server of the stack does not answer. */
async function preflight(config: Config): Promise<void> {
  const hint = 'start the local stack with `npm run stack -- up`'
  const admin = createKafkaClient({
    connection: config.kafka,
    library: config.kafka.client,
    clientId: 'xrc-bench-preflight',
    logger: silentLogger,
    logs: 'none',
  }).admin()
  try {
    await admin.connect()
    await admin.listTopics()
  } catch (err) {
    throw new XrcError('XRC_KAFKA_UNREACHABLE', {
      reason: 'preflight',
      brokers: config.kafka.brokers.join(','),
      hint,
      cause: err,
    })
  } finally {
    await admin.disconnect().catch(() => undefined)
  }
  const res = await fetch(`${config.schemaRegistry.url}/subjects`).catch((err: unknown) => err)
  if (!(res instanceof Response) || !res.ok)
    throw new XrcError('XRC_REGISTRY_UNREACHABLE', { reason: 'preflight', url: config.schemaRegistry.url, hint })
  const client = new pg.Client({ connectionString: config.database.url })
  try {
    await client.connect()
    await client.query('SELECT 1')
  } catch (err) {
    throw new XrcError('XRC_POSTGRES_UNREACHABLE', { reason: 'preflight', hint, cause: err })
  } finally {
    await client.end().catch(() => undefined)
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      runs: { type: 'string' },
      config: { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      backlog: { type: 'string' },
      render: { type: 'boolean', default: false },
      nbd: { type: 'boolean', default: false },
      snapshots: { type: 'boolean', default: false },
      failover: { type: 'boolean', default: false },
      seconds: { type: 'string' },
    },
    strict: true,
  })
  const resultsDir = join(REPO_ROOT, 'bench', 'results')
  const base = PROFILES[values.quick ? 'quick' : 'full']
  const outputs = {
    json: join(resultsDir, base.name === 'quick' ? 'quick.json' : 'latest.json'),
    markdown: base.name === 'quick' ? join(resultsDir, 'quick.md') : join(REPO_ROOT, 'BENCHMARKS.md'),
  }
  if (values.render) return render(resultsDir, outputs)
  if (values.nbd) return nbd(resultsDir, values.config, values.seconds)
  if (values.snapshots) return snapshots(resultsDir, values.config, values.quick)
  if (values.failover) return failover(resultsDir, values.config, values.quick)
  const runs = values.runs === undefined ? base.runs : Number(values.runs)
  if (!Number.isInteger(runs) || runs < 1)
    throw new XrcError('XRC_USAGE', {
      reason: 'badOption',
      option: '--runs',
      expected: 'a positive integer',
      value: String(values.runs),
    })
  const backlog = values.backlog === undefined ? base.backlogBlocks : Number(values.backlog)
  if (!Number.isInteger(backlog) || backlog < 1)
    throw new XrcError('XRC_USAGE', {
      reason: 'badOption',
      option: '--backlog',
      expected: 'a positive number of blocks',
      value: String(values.backlog),
    })
  const profile: BenchProfile = { ...base, runs, backlogBlocks: backlog }
  const load: LoadOptions = { env: process.env, ...(values.config !== undefined ? { file: values.config } : {}) }
  const config = loadConfig(load)
  await preflight(config)

  await mkdir(resultsDir, { recursive: true })
  const execArgv = values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${join(resultsDir, 'profiles')}`] : []
  const machine = await describeMachine(config)
  const began = Date.now()
  log(
    `${profile.name}: ${profile.runs} run(s) on ${machine.cores} cores, Node ${machine.node}, Kafka ` +
      `${machine.kafka}, PostgreSQL ${machine.postgres}`,
  )
  const busy = loadAverage()
  if (busy > machine.cores)
    log(
      `the machine is busy (load average ${busy} on ${machine.cores} cores): other work will make these numbers noisy`,
    )

  const results: RunResult[] = []
  for (let r = 1; r <= profile.runs; r++) {
    log(`run ${r} of ${profile.runs}`)
    const session = await createBenchSession({ load, blocksPerVolume: profile.blocksPerVolume })
    let failed = false
    try {
      results.push(await benchRun({ session, profile, log, execArgv }))
    } catch (err) {
      failed = true
      log(`run ${r} failed; the stages' logs are kept in ${session.dir}`)
      throw err
    } finally {
      const problems = await session.cleanup({ keepDir: failed })
      for (const p of problems) log(`cleanup: ${p}`)
    }
  }

  const report = buildReport({ profile, machine, results, durationSeconds: (Date.now() - began) / 1000 })
  await writeReport(resultsDir, outputs, report)
  log(`done in ${Math.round(report.durationSeconds)} s: ${outputs.json}, ${outputs.markdown}`)
  for (const t of report.targets)
    log(`  ${t.met === undefined ? 'n/a ' : t.met ? 'met ' : 'MISS'} ${t.name}: ${t.measured}`)
  await failover(resultsDir, values.config, profile.name === 'quick')
}

/** `--failover`: verify while the pipeline runs, failover and failback (issue 17); also the end of every run. */
async function failover(resultsDir: string, configFile: string | undefined, quick: boolean): Promise<void> {
  const load: LoadOptions = { env: process.env, ...(configFile !== undefined ? { file: configFile } : {}) }
  await preflight(loadConfig(load))
  const report = await runFailoverBench({ load, profile: FAILOVER_PROFILES[quick ? 'quick' : 'full'], resultsDir, log })
  const stem = quick ? 'failover-quick' : 'failover'
  log(`failover: done in ${Math.round(report.durationSeconds)} s: ${join(resultsDir, `${stem}.json`)}, .md`)
  for (const line of renderFailoverReport(report).trim().split('\n').slice(0, 8)) log(`  ${line}`)
}

/** `--nbd`: fio through the primary's NBD exports, mirrored, suspended and against a plain file. */
async function nbd(resultsDir: string, configFile: string | undefined, secondsFlag: string | undefined): Promise<void> {
  const seconds = secondsFlag === undefined ? 60 : Number(secondsFlag)
  if (!Number.isInteger(seconds) || seconds < 1)
    throw new XrcError('XRC_USAGE', {
      reason: 'badOption',
      option: '--seconds',
      expected: 'a positive integer',
      value: String(secondsFlag),
    })
  const load: LoadOptions = { env: process.env, ...(configFile !== undefined ? { file: configFile } : {}) }
  await preflight(loadConfig(load))
  const report = await runNbdBench({ load, seconds, resultsDir, log })
  log(`nbd: ${join(resultsDir, 'nbd.json')}, ${join(resultsDir, 'nbd.md')}`)
  for (const line of renderNbdReport(report).trim().split('\n')) log(`  ${line}`)
}

/** `--snapshots`: snapshot creation, apply with snapshots held, recovery via a snapshot (issue 14). */
async function snapshots(resultsDir: string, configFile: string | undefined, quick: boolean): Promise<void> {
  const load: LoadOptions = { env: process.env, ...(configFile !== undefined ? { file: configFile } : {}) }
  await preflight(loadConfig(load))
  const profile = SNAPSHOT_PROFILES[quick ? 'quick' : 'full']
  const report = await runSnapshotBench({ load, profile, resultsDir, log })
  const stem = quick ? 'snapshots-quick' : 'snapshots'
  log(`snapshots: done in ${Math.round(report.durationSeconds)} s: ${join(resultsDir, `${stem}.json`)}, .md`)
  for (const line of renderSnapshotReport(report).trim().split('\n').slice(0, 9)) log(`  ${line}`)
}

/** Writes the JSON and the Markdown, each renamed into place so an interrupted write never leaves half a report. */
async function writeReport(
  resultsDir: string,
  outputs: { json: string; markdown: string },
  report: Report,
): Promise<void> {
  const previous = await readFile(outputs.markdown, 'utf8').catch(() => undefined)
  const atomically = async (file: string, text: string): Promise<void> => {
    const tmp = join(resultsDir, `${basename(file)}.tmp`)
    await writeFile(tmp, text)
    await rename(tmp, file)
  }
  await atomically(outputs.json, `${JSON.stringify(report, null, 2)}\n`)
  await atomically(outputs.markdown, renderMarkdown(report, previous))
}

/** `--render`: the report again from the saved runs (after a change to the report's layout), no measuring. */
async function render(resultsDir: string, outputs: { json: string; markdown: string }): Promise<void> {
  const saved = JSON.parse(await readFile(outputs.json, 'utf8')) as Report
  const profile = { ...PROFILES[saved.profile], runs: saved.runs }
  const report = buildReport({
    profile,
    machine: saved.machine,
    results: saved.results,
    durationSeconds: saved.durationSeconds,
    generatedAt: new Date(saved.generatedAt),
  })
  await writeReport(resultsDir, outputs, report)
  log(`rendered ${outputs.markdown} from ${outputs.json}`)
}

main().catch((err: unknown) => {
  log(`failed: ${err instanceof XrcError ? `${err.message} [${err.code}]` : errorMessage(err)}`)
  process.exitCode = 1
})
