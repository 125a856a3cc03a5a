/**
 * Fault suite: the mover killed before and during a commit; a zombie mover fenced; a transaction left open past its
 * timeout; each on both Kafka client libraries of the hot path (kafka.client). Each scenario runs once with
 * real processes on real servers and must end with nothing lost, applied
 * twice or out of order, no mixed state observed and identical volumes
 * (see harness/scenario.ts).
 */
import { describe, it } from 'vitest'
import { onClient } from './harness/scenario.js'
import { runOnce } from './harness/vitestRun.js'
import { SCENARIOS } from './scenarios/index.js'

describe('fault scenarios: mover', () => {
  // on the default client (platformatic), then each again with the hot path on kafkajs (kafka.client)
  for (const scenario of [
    ...SCENARIOS.mover.map((make) => make()),
    ...SCENARIOS.mover.map((make) => onClient(make(), 'kafkajs')),
  ]) {
    it(
      scenario.name,
      async () => {
        await runOnce(scenario)
      },
      300_000,
    )
  }
})
