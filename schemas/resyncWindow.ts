/**
 * A resync window event: what the primary tells the secondary about a
 * resync, carried in the controller's own stream so that it is ordered with
 * the controller's writes (US 6,260,124: the secondary is inconsistent while
 * a resync is applied).
 *
 *   BEGIN  epoch, consistentUntil S (the controller's stream held every
 *          change up to S; later ones were only marked, 0 after a lost
 *          journal), blocks marked, reason of the suspension
 *   END    epoch; every resync record of the epoch has a time below the
 *          event's time E
 *
 * On the updates topic an event rides in a HEARTBEAT record set
 * (schemas/recordSet.ts, field `window`) whose time is the event's time; on
 * the journal topic in the group whose consistency time T covers that time,
 * or, for a BEGIN, in the first group whose T passes its S if that comes
 * earlier (schemas/journal.ts, field `windows`; the mover's rule is in
 * mover/groups/controllerStream.ts, takeWindows). The applier applies the
 * events of a group to its resync tables inside the group's apply
 * transaction, before it decides whether the group leaves the image
 * consistent (applier/resync/resyncImage.ts).
 *
 * Timing, per controller: the BEGIN is appended to the controller's sidefile
 * (durably) before the controller captures again after a suspension, and its
 * time B is a tick taken then, so every earlier record of the stream has a
 * time below B and every post-suspension write and resync record a time
 * above it. While suspended the controller sends no heartbeat, so the
 * consistency time stays at or below S until its BEGIN arrives: a group with
 * T > S needs the controller to have reported a time above S, and the first
 * such report is the BEGIN itself.
 *
 * But that report is B, not S: B is taken at the resume, often hundreds of
 * milliseconds after S, and once the BEGIN is read the controller covers B.
 * With other controllers still running (a suspension is per primary
 * process), a group can then be cut at some T with S < T < B. It holds none
 * of the controller's records after S, yet the image at T must hold the
 * controller's writes with times in (S, T]: those were marked, never sent.
 * So it is the first group whose T passes S, not the first with T >= B,
 * that must carry the BEGIN: the mover puts the BEGIN there (every record of
 * the controller before the BEGIN has a time below S, every one after it a
 * time above B, so the BEGIN's place among them is kept), and the applier,
 * seeing S < T with no end, calls the group inconsistent. (A group carrying
 * the BEGIN only once T >= B, as first built, was applied as consistent
 * while it lacked the marked writes.) A mover restarting while the BEGIN
 * waits resumes the controller at a time no later than S, so it too reads
 * the BEGIN again before any group passes S.
 *
 * The END is appended once every resync record of the epoch is in the
 * sidefile before it, so a group whose T covers E (the group that carries
 * the END, or a later one) holds all of them: it is consistent again as far
 * as this controller goes.
 */

export type ResyncWindowEvent = 'BEGIN' | 'END'

/** One window event of a controller (its controller and time come with the record that carries it). */
export interface ResyncWindow {
  event: ResyncWindowEvent
  /** The resync epoch (the primary's count of resumes; 0 for the rows `xrc resync` writes on the secondary). */
  epoch: number
  /** BEGIN: S. END: 0. */
  consistentUntil: number
  /** BEGIN: blocks marked for resync when it began. END: 0. */
  blocks: number
  /** BEGIN: why the session was suspended (kafka-unreachable, sidefile-full, operator, journal-lost). END: empty. */
  reason: string
}

/** Longest reason carried (the suspend reasons are far shorter). */
export const RESYNC_WINDOW_REASON_MAX = 64

/** The Avro fields of a window event, shared by the record-set and journal schemas. */
export const RESYNC_WINDOW_FIELDS = [
  {
    name: 'event',
    type: { type: 'enum', name: 'ResyncWindowEvent', symbols: ['BEGIN', 'END'] },
  },
  { name: 'epoch', type: 'long' },
  { name: 'consistentUntil', type: 'long', doc: 'BEGIN: S, microseconds since the epoch, session clock; END: 0' },
  { name: 'blocks', type: 'long', doc: 'BEGIN: blocks marked for resync; END: 0' },
  { name: 'reason', type: 'string', doc: 'BEGIN: why the session was suspended; END: empty' },
] as const

/** The END event of `epoch`. */
export function windowEnd(epoch: number): ResyncWindow {
  return { event: 'END', epoch, consistentUntil: 0, blocks: 0, reason: '' }
}
