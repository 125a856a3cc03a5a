/**
 * The journal writer's hooks of a mover: the fault points an operator or a
 * fault test arms (config.faults.point: mover.before-commit,
 * mover.during-commit, mover.after-commit), then the caller's own hooks.
 */
import type { FaultPoints } from '../lib/faultPoints.js'
import type { ConsistencyGroup } from '../schemas/journal.js'
import type { JournalWriterHooks } from './journal/index.js'

export function journalHooks(faults: FaultPoints, hooks: JournalWriterHooks | undefined): JournalWriterHooks {
  const duringCommitArmed = faults.isArmed('mover.during-commit')
  return {
    beforeCommit: async (group) => {
      faults.reach('mover.before-commit')
      await hooks?.beforeCommit?.(group)
    },
    // only when asked for: the point waits 1 ms, so that the commit request is on the wire when it fires
    ...(duringCommitArmed || hooks?.duringCommit
      ? {
          duringCommit: async (group: ConsistencyGroup) => {
            if (duringCommitArmed) {
              await new Promise((resolve) => setTimeout(resolve, 1))
              faults.reach('mover.during-commit')
            }
            await hooks?.duringCommit?.(group)
          },
        }
      : {}),
    afterCommit: async (group) => {
      faults.reach('mover.after-commit')
      await hooks?.afterCommit?.(group)
    },
  }
}
