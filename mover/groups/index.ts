/**
 * Consistency groups, pure: the group former (consistency time T = minimum of
 * the controllers' latest times) and the journal order of a group's updates.
 */
export {
  type AddOutcome,
  type CutOptions,
  type DiscardedSeqs,
  type FormedGroup,
  type FormerCheckpoint,
  type GroupFormer,
  createGroupFormer,
  markerOf,
} from './groupFormer.js'
