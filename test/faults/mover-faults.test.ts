/**
 * Fault suite: the mover killed before and during a commit; a zombie mover fenced; a transaction left open past its timeout. Each scenario runs once with
 * real processes on real servers and must end with nothing lost, applied
 * twice or out of order, no mixed state observed and identical volumes
 * (see harness/scenario.ts).
 */
import { describe, it } from 'vitest'
import { runOnce } from './harness/vitestRun.js'
import { SCENARIOS } from './scenarios/index.js'

describe('fault scenarios: mover', () => {
  for (const make of SCENARIOS.mover) {
    const scenario = make()
    it(
      scenario.name,
      async () => {
        await runOnce(scenario)
      },
      300_000,
    )
  }
})
