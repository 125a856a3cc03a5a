/**
 * Every fault scenario of the suite, by test file: `npm test`
 * runs each once (test/faults/*.test.ts), `npm run soak` repeats them with
 * random seeds and timing (test/faults/soak.ts).
 */
import type { Scenario } from '../harness/scenario.js'
import { applierKilled, controllerPaused, moverKilled, producerKilled, zombieMover } from './processFaults.js'
import { clusterBrokerPause, clusterDataLoss, clusterLeaderKill, clusterRollingRestart } from './clusterFaults.js'
import { commitCut, kafkaCrash, postgresCrash, registryRestart, transactionTimeout } from './serverFaults.js'

/** Scenarios by test file; factories, because a scenario with private servers keeps their handles per run. */
export const SCENARIOS: Record<'applier' | 'mover' | 'producer' | 'servers' | 'cluster', (() => Scenario)[]> = {
  // 1 and 7
  applier: [
    () => applierKilled('applier.before-commit'),
    () => applierKilled('applier.after-commit'),
    () => commitCut('before'),
    () => commitCut('after'),
  ],
  // 2, 3 and 8
  mover: [
    () => moverKilled('mover.before-commit'),
    () => moverKilled('mover.during-commit'),
    () => zombieMover,
    () => transactionTimeout(),
  ],
  // 4 and 5
  producer: [() => producerKilled, () => controllerPaused],
  // 6
  servers: [() => kafkaCrash(), () => postgresCrash(), () => registryRestart()],
  // 9: a replicated three-node cluster (one private cluster per process, restored between runs)
  cluster: [clusterLeaderKill, clusterBrokerPause, clusterRollingRestart, clusterDataLoss],
}

export const ALL_SCENARIOS: (() => Scenario)[] = Object.values(SCENARIOS).flat()
