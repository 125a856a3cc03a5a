/**
 * Fault suite on a replicated three-node KRaft cluster (private: its own
 * ports and temp folder, shared by this file's scenarios and restored
 * between them): the leader of the journal and of an updates partition
 * SIGKILLed, a broker SIGSTOPped past its session timeout, a rolling
 * restart, a broker's data folder lost. Each ends with nothing lost,
 * applied twice or out of order, no mixed state, identical volumes, and
 * groups applied while a broker was away (see harness/scenario.ts).
 */
import { afterAll, beforeAll, describe, it } from 'vitest'
import { runOnce } from './harness/vitestRun.js'
import { releaseSharedCluster, sharedCluster } from './scenarios/clusterFaults.js'
import { SCENARIOS } from './scenarios/index.js'

beforeAll(async () => void (await sharedCluster()), 180_000)
afterAll(releaseSharedCluster, 60_000)

describe('fault scenarios: three-node cluster', () => {
  for (const make of SCENARIOS.cluster) {
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
