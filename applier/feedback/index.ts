/**
 * What the secondary tells the primary: the applier's last committed group
 * and image state, published on the session's applied topic.
 */
export {
  type AppliedNote,
  type AppliedPublisher,
  appliedNote,
  createAppliedPublisher,
  publishAppliedOnce,
} from './appliedPublisher.js'
