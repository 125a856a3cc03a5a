/**
 * AppliedState: what a secondary tells the primary, on the session's applied
 * topic (`xrc.<session>.applied`, one partition, compacted). Key = the
 * secondary's name (its PostgreSQL schema, applier.schema), so the topic
 * keeps the latest state of each secondary; value = Avro in the Confluent
 * wire format (subject `<topic>-value`).
 *
 * Layout:
 *   session, secondary
 *   groupSeq, groupTime       the last group the secondary committed
 *                             (0, null: none); every stream write with a
 *                             time <= groupTime is in its image
 *   image                     CONSISTENT, INCONSISTENT (a resync is being
 *                             applied) or ROLLED_BACK
 *   consistentGroupSeq/Time   while not consistent: the group the image falls
 *                             back on (null when consistent)
 *   publishedAt               wall clock of the publication, ms since the epoch
 *
 * The applier publishes after a commit, never before, so a record never
 * claims more than the secondary holds; at most one record per
 * applier.feedbackMs, always the latest state, and one at start-up. The
 * primary discards its older change generation when groupTime reaches the
 * newer one's start (US 6,088,697); a record lost or late only delays that,
 * which is the safe direction.
 */
export const APPLIED_STATE_SCHEMA = {
  type: 'record',
  name: 'AppliedState',
  namespace: 'io.xrc.kafka',
  doc: "A secondary's last applied consistency group and the state of its image, for the primary",
  fields: [
    { name: 'session', type: 'string' },
    { name: 'secondary', type: 'string', doc: "the secondary's name (its PostgreSQL schema); also the Kafka key" },
    { name: 'groupSeq', type: 'long', doc: 'the last group committed; 0: none' },
    {
      name: 'groupTime',
      type: ['null', 'long'],
      default: null,
      doc: 'its consistency time T, microseconds since the epoch; null: none',
    },
    {
      name: 'image',
      type: { type: 'enum', name: 'SecondaryImage', symbols: ['CONSISTENT', 'INCONSISTENT', 'ROLLED_BACK'] },
    },
    { name: 'consistentGroupSeq', type: ['null', 'long'], default: null },
    { name: 'consistentGroupTime', type: ['null', 'long'], default: null },
    { name: 'publishedAt', type: 'long', doc: 'ms since the epoch, wall clock' },
  ],
} as const

export type SecondaryImage = 'CONSISTENT' | 'INCONSISTENT' | 'ROLLED_BACK'

export interface AppliedState {
  session: string
  secondary: string
  groupSeq: number
  groupTime: number | null
  image: SecondaryImage
  consistentGroupSeq: number | null
  consistentGroupTime: number | null
  publishedAt: number
}

/** The image states of applier/resync (lower case, dashed) as they travel. */
export function imageOnWire(state: 'consistent' | 'inconsistent' | 'rolled-back'): SecondaryImage {
  return state === 'consistent' ? 'CONSISTENT' : state === 'inconsistent' ? 'INCONSISTENT' : 'ROLLED_BACK'
}
