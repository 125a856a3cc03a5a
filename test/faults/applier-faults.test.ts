/**
 * Fault suite: the applier killed mid-transaction and after its commit; a PostgreSQL connection cut during COMMIT. Each scenario runs once with
 * real processes on real servers and must end with nothing lost, applied
 * twice or out of order, no mixed state observed and identical volumes
 * (see harness/scenario.ts).
 */
import { describe, it } from 'vitest'
import { runOnce } from './harness/vitestRun.js'
import { SCENARIOS } from './scenarios/index.js'

describe('fault scenarios: applier', () => {
  for (const make of SCENARIOS.applier) {
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
