/**
 * Fault suite: the producer killed with record sets in flight; one controller's producer paused. Each scenario runs once with
 * real processes on real servers and must end with nothing lost, applied
 * twice or out of order, no mixed state observed and identical volumes
 * (see harness/scenario.ts).
 */
import { describe, it } from 'vitest'
import { runOnce } from './harness/vitestRun.js'
import { SCENARIOS } from './scenarios/index.js'

describe('fault scenarios: producer', () => {
  for (const make of SCENARIOS.producer) {
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
