/**
 * How a vitest file of the fault suite runs a scenario: once, with a seed
 * from the clock (printed, so a failure can be rerun), its figures printed
 * and kept for the suite's table (figures.setup.ts), and every figure that
 * must be zero asserted.
 */
import { appendFileSync } from 'node:fs'
import { expect, inject } from 'vitest'
import { stackInfo } from '../../kit/servers.js'
import type { ScenarioFigures } from './figures.js'
import type {} from './providedContext.js'
import { runScenario, type Scenario } from './scenario.js'

export async function runOnce(scenario: Scenario): Promise<ScenarioFigures> {
  const seed = Date.now() % 1_000_000
  const figures = await runScenario(scenario, stackInfo(), seed)
  const { failures, ...rest } = figures
  console.log(`fault scenario ${scenario.name}: ${JSON.stringify({ ...rest, failures: failures.length })}`)
  appendFileSync(inject('faultFigures'), `${JSON.stringify(figures)}\n`)
  // as plain lines (an array diff would print each line again, escaped): CI keeps only the end of its output
  if (failures.length > 0) expect.fail(`${scenario.name}, seed ${seed}, failed:\n${failures.join('\n')}`)
  expect(figures).toMatchObject({
    writesLost: 0,
    groupsAppliedTwice: 0,
    outOfOrder: 0,
    mixedStates: 0,
    deadLettered: {},
  })
  expect(figures.faultsInjected).toBeGreaterThan(0)
  expect(figures.faultsSurvived).toBe(figures.faultsInjected)
  expect(figures.writesAcknowledged).toBeGreaterThan(0)
  expect(figures.groupsObserved).toBeGreaterThan(0)
  return figures
}
