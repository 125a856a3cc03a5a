#!/usr/bin/env node
/**
 * `npm run soak -- --minutes N [--scenario NAME]`: repeats the fault
 * scenarios, each run with a fresh random seed (so fault points fire at
 * other occurrences, faults land at other moments, and the workload picks
 * other blocks), until N minutes have passed, then prints the same figures
 * as `npm test`, per scenario and in total. Exit code 1 when any run
 * failed a check (each failure is printed with its seed).
 *
 * Runs against the local stack (brought up when it is not running), as the
 * integration tests do, with the same environment variables.
 */
import { parseArgs } from 'node:util'
import { loadConfig } from '../../lib/config.js'
import { createStack } from '../../stack/index.js'
import type { StackInfo } from '../kit/stackInfo.js'
import { figuresTable, total, type ScenarioFigures } from './harness/figures.js'
import { runScenario } from './harness/scenario.js'
import { releaseSharedCluster } from './scenarios/clusterFaults.js'
import { ALL_SCENARIOS } from './scenarios/index.js'

const { values } = parseArgs({
  options: { minutes: { type: 'string', default: '10' }, scenario: { type: 'string', multiple: true } },
})
const minutes = Number(values.minutes)
if (!Number.isFinite(minutes) || minutes <= 0) {
  console.error(`soak: --minutes takes a positive number, got "${values.minutes}"`)
  process.exit(2)
}
const chosen = ALL_SCENARIOS.filter((make) => values.scenario === undefined || values.scenario.includes(make().name))
if (chosen.length === 0) {
  console.error(
    `soak: no scenario named ${values.scenario?.join(', ')}; there are ${ALL_SCENARIOS.map((m) => m().name).join(', ')}`,
  )
  process.exit(2)
}

const config = loadConfig({ env: process.env })
const stack = createStack(config)
if ((await stack.status()).some((s) => s.state !== 'up')) await stack.up((line) => console.log(`[stack] ${line}`))
const servers: StackInfo = {
  kafkaBrokers: [...config.kafka.brokers],
  registryUrl: config.schemaRegistry.url,
  databaseUrl: config.database.url,
}

const deadline = Date.now() + minutes * 60_000
const runs: ScenarioFigures[] = []
let round: (typeof chosen)[number][] = []
console.log(`soak: ${minutes} min over ${chosen.length} scenarios`)
while (Date.now() < deadline) {
  // every scenario once per round, in a new random order
  if (round.length === 0) round = [...chosen].sort(() => Math.random() - 0.5)
  const scenario = (round.pop() as (typeof chosen)[number])()
  const seed = Math.floor(Math.random() * 1_000_000_000)
  const figures = await runScenario(scenario, servers, seed)
  runs.push(figures)
  const verdict = figures.failures.length === 0 ? 'ok' : `FAILED: ${figures.failures.join(' | ')}`
  console.log(
    `${new Date().toISOString()} ${figures.scenario} seed=${seed} ${figures.seconds}s faults=${figures.faultsInjected} acked=${figures.writesAcknowledged} groups=${figures.groupsApplied} lost=${figures.writesLost} twice=${figures.groupsAppliedTwice} order=${figures.outOfOrder} mixed=${figures.mixedStates} ${verdict}`,
  )
}

// the three-node scenarios' private cluster, if one ran
await releaseSharedCluster()
const t = total(runs)
console.log(`\nsoak figures (${minutes} min, ${t.runs} runs)\n${figuresTable(runs)}\n`)
console.log(JSON.stringify({ soakMinutes: minutes, ...t }))
process.exit(t.failedRuns > 0 ? 1 : 0)
