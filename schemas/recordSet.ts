/**
 * RecordSet: the self-describing record set a controller's stream is made
 * of (US 5,734,818). One Kafka record on the session's updates topic,
 * partition = controller id, key = controller id, value = Avro in the
 * Confluent wire format (subject `<topic>-value`).
 *
 * Layout:
 *   header   session, controller, kind, firstSeq..lastSeq, minTime..maxTime
 *   updates  [{ seq, time, volume, block, data }]  (data: whole blocks)
 *
 * - kind UPDATES: host writes, seq contiguous from firstSeq to lastSeq, in
 *   seq order, times non-decreasing (seq and time are issued together).
 * - kind HEARTBEAT: no updates; firstSeq = lastSeq + 1 = the controller's
 *   next seq; minTime = maxTime = a time every later write of this
 *   controller will exceed. It moves the consistency time of an idle
 *   controller.
 * - kind RESYNC: blocks read from the primary by a resync (README, Suspend
 *   and resync); time = the read time; seq continues the controller's seq.
 * - window (optional, null by default; added in a backward-compatible
 *   evolution): only on a HEARTBEAT, a resync window event of the
 *   controller whose time is the heartbeat's (schemas/resyncWindow.ts).
 *
 * Times are microseconds since the epoch from the session clock (a hybrid
 * logical clock); they stay below 2^53 until the year 2255, so they travel
 * as Avro long and live in JS as number. The same header fields also go in
 * Kafka record headers (see HEADERS), so groups can be formed and records
 * routed without decoding payloads.
 */
import { RESYNC_WINDOW_FIELDS, type ResyncWindow } from './resyncWindow.js'
import { HEADERS } from './topicNames.js'

export const RECORD_SET_SCHEMA = {
  type: 'record',
  name: 'RecordSet',
  namespace: 'io.xrc.kafka',
  doc: 'A self-describing set of time-stamped block updates from one storage controller',
  fields: [
    { name: 'session', type: 'string' },
    { name: 'controller', type: 'int' },
    { name: 'kind', type: { type: 'enum', name: 'RecordSetKind', symbols: ['UPDATES', 'HEARTBEAT', 'RESYNC'] } },
    { name: 'firstSeq', type: 'long' },
    { name: 'lastSeq', type: 'long' },
    { name: 'minTime', type: 'long', doc: 'microseconds since the epoch, session clock' },
    { name: 'maxTime', type: 'long' },
    {
      name: 'updates',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'Update',
          fields: [
            { name: 'seq', type: 'long' },
            { name: 'time', type: 'long' },
            { name: 'volume', type: 'string' },
            { name: 'block', type: 'long', doc: 'first block written' },
            { name: 'data', type: 'bytes', doc: 'whole blocks' },
          ],
        },
      },
    },
    {
      name: 'window',
      type: ['null', { type: 'record', name: 'ResyncWindow', fields: RESYNC_WINDOW_FIELDS }],
      default: null,
      doc: 'HEARTBEAT only: a resync window begins or ends at the heartbeat time (schemas/resyncWindow.ts)',
    },
  ],
} as const

export type RecordSetKind = 'UPDATES' | 'HEARTBEAT' | 'RESYNC'

/** One host write (or resync read) of whole blocks. */
export interface Update {
  seq: number
  time: number
  volume: string
  block: number
  data: Buffer
}

export interface RecordSet {
  session: string
  controller: number
  kind: RecordSetKind
  firstSeq: number
  lastSeq: number
  minTime: number
  maxTime: number
  updates: Update[]
  /** A resync window event at maxTime (HEARTBEAT only); null or absent for every other record set. */
  window?: ResyncWindow | null
}

/** The Kafka headers of a record set (decimal strings), so readers route and group them without decoding. */
export function recordSetHeaders(rs: RecordSet): Record<string, string> {
  return {
    [HEADERS.session]: rs.session,
    [HEADERS.controller]: String(rs.controller),
    [HEADERS.kind]: rs.kind,
    [HEADERS.firstSeq]: String(rs.firstSeq),
    [HEADERS.lastSeq]: String(rs.lastSeq),
    [HEADERS.minTime]: String(rs.minTime),
    [HEADERS.maxTime]: String(rs.maxTime),
    ...(rs.window ? { [HEADERS.window]: `${rs.window.event}:${rs.window.epoch}` } : {}),
  }
}
