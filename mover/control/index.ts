/**
 * The mover's control: when to cut the next group and what to do after a
 * failure (restart with backoff, halt, stop), pure; and the wakeable sleep
 * its loop waits in.
 */
export { CutCadence } from './cutCadence.js'
export {
  type ControlStep,
  type HaltVerdict,
  type JournalFailedVerdict,
  type RestartFailedVerdict,
  type RestartPolicy,
  RESTART_POLICY,
  Supervisor,
  haltError,
} from './supervisor.js'
export { WakeableSleep } from './wakeableSleep.js'
