/**
 * JournalRecord: one consistency group, or one part of it, on the session's
 * journal topic (single partition, written only inside Kafka transactions,
 * read with read_committed). Value = Avro in the Confluent wire format
 * (subject `<topic>-value`).
 *
 * Layout:
 *   groupSeq      1, 2, 3, ... contiguous: the applier detects a skip
 *   groupTime     the consistency time T of the group, strictly increasing
 *   part, parts   0..parts-1; part 0 begins the group, part parts-1 ends it.
 *                 All parts of a group are in one transaction, in order.
 *   updates       this part's block updates, ordered by (time, controller,
 *                 seq), at most one per (volume, block) in the whole group
 *                 (the last writer in that order wins)
 *   controllers   on the last part only: per controller the last seq and
 *                 latest time the group covers, and the updates-topic offset
 *                 to resume from. A restarting mover reads it to restore its
 *                 state; earlier parts carry an empty array.
 *   windows       on the last part only (empty elsewhere; added in a
 *                 backward-compatible evolution, default []): the resync
 *                 window events (schemas/resyncWindow.ts) read with the
 *                 group, each with its controller and time <= groupTime, in
 *                 (time, controller) order. The applier applies them to its
 *                 resync tables inside the group's transaction, before it
 *                 decides whether the group leaves the image consistent.
 *
 *   ranges        (a marker; added in a backward-compatible evolution,
 *                 default []): the updates topic is the journal's data. A
 *                 marker is one record (parts = 1, updates = []) holding per
 *                 controller the updates-partition offsets [fromOffset,
 *                 toOffset) to read, the offsets inside them the mover set
 *                 aside (dead-lettered, duplicates: never decoded), and the
 *                 seqs [firstSeq, lastSeq] the group takes from what is read
 *                 (first sighting of each seq, by offset), minus `discarded`
 *                 (seqs an operator accepted as lost). schemas/markers.ts
 *                 resolves a marker into the group's updates. A record with
 *                 no ranges is a group of the older format, its updates in
 *                 its parts.
 *
 * A group with no updates is legal (time moved, nothing written) and is
 * still journaled, so the applier's consistency time keeps moving.
 *
 * The record is named JournalGroup, with the alias JournalRecord (its name
 * before markers): a reader of this version reads records of the older one,
 * but an applier of a release before markers cannot resolve this name and
 * halts (XRC_DECODE_FAILED) instead of taking a marker for a group without
 * updates, which would move its secondary's T past writes it never applied.
 * Upgrade appliers before movers.
 */
import { RESYNC_WINDOW_FIELDS, type ResyncWindow } from './resyncWindow.js'

export const JOURNAL_SCHEMA = {
  type: 'record',
  name: 'JournalGroup',
  namespace: 'io.xrc.kafka',
  aliases: ['io.xrc.kafka.JournalRecord'],
  doc: 'One consistency group (or one part of it) for the secondary',
  fields: [
    { name: 'session', type: 'string' },
    { name: 'groupSeq', type: 'long' },
    { name: 'groupTime', type: 'long', doc: 'consistency time T, microseconds since the epoch' },
    { name: 'part', type: 'int' },
    { name: 'parts', type: 'int' },
    {
      name: 'updates',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'JournalUpdate',
          fields: [
            { name: 'controller', type: 'int' },
            { name: 'seq', type: 'long' },
            { name: 'time', type: 'long' },
            { name: 'volume', type: 'string' },
            { name: 'block', type: 'long', doc: 'one block per update' },
            { name: 'data', type: 'bytes' },
          ],
        },
      },
    },
    {
      name: 'controllers',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'ControllerMark',
          fields: [
            { name: 'controller', type: 'int' },
            { name: 'lastSeq', type: 'long' },
            { name: 'lastTime', type: 'long' },
            {
              name: 'resumeOffset',
              type: 'long',
              doc: 'updates-topic offset of the first record set not wholly journaled',
            },
          ],
        },
      },
    },
    {
      name: 'windows',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'JournalWindow',
          fields: [
            { name: 'controller', type: 'int' },
            { name: 'time', type: 'long', doc: 'the event time (BEGIN: after S; END: E), <= groupTime' },
            ...RESYNC_WINDOW_FIELDS,
          ],
        },
      },
      default: [],
      doc: 'last part only: the resync window events the group carries (schemas/resyncWindow.ts)',
    },
    {
      name: 'ranges',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'UpdatesRange',
          fields: [
            { name: 'controller', type: 'int', doc: 'also the updates-topic partition' },
            { name: 'fromOffset', type: 'long', doc: 'first updates-topic offset to read' },
            { name: 'toOffset', type: 'long', doc: 'offset after the last one to read (= fromOffset: none)' },
            { name: 'firstSeq', type: 'long', doc: 'first seq the group takes' },
            { name: 'lastSeq', type: 'long', doc: 'last seq the group takes (firstSeq - 1: none)' },
            {
              name: 'setAside',
              type: { type: 'array', items: 'long' },
              doc: 'offsets in the range the mover set aside (dead-lettered, duplicates): not read',
            },
          ],
        },
      },
      default: [],
      doc: 'a marker: per controller what the group takes from the updates topic (schemas/markers.ts)',
    },
    {
      name: 'discarded',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'DiscardedRange',
          fields: [
            { name: 'controller', type: 'int' },
            { name: 'firstSeq', type: 'long' },
            { name: 'lastSeq', type: 'long' },
          ],
        },
      },
      default: [],
      doc: 'a marker: seqs inside the ranges an operator accepted as lost (never in the stream)',
    },
  ],
} as const

/** One block of a group. */
export interface JournalUpdate {
  controller: number
  seq: number
  time: number
  volume: string
  block: number
  data: Buffer
}

/** Where a controller's stream stands once this group is journaled (mover/groups/groupFormer.ts). */
export interface ControllerMark {
  controller: number
  /** Every seq of the controller up to this one is journaled (this group or earlier); later ones are not. */
  lastSeq: number
  /**
   * Every write of the controller with time <= lastTime is journaled: at least the group's time, more when the
   * controller reported later times.
   */
  lastTime: number
  /**
   * Updates-topic offset of the controller's first record set not wholly journaled (else the offset after the last
   * one read).
   */
  resumeOffset: number
}

export interface JournalRecord {
  session: string
  groupSeq: number
  groupTime: number
  part: number
  parts: number
  updates: JournalUpdate[]
  controllers: ControllerMark[]
  /** Last part only; absent or empty when the group carries no window event (records of the older schema). */
  windows?: JournalWindow[]
  /** A marker's ranges, one per configured controller; absent or empty in a group of the older format. */
  ranges?: UpdatesRange[]
  /** A marker's seqs discarded by an operator, inside its ranges; absent or empty when none. */
  discarded?: DiscardedRange[]
}

/** What a marker takes from one controller's updates partition (partition = controller). */
export interface UpdatesRange {
  controller: number
  /** First offset to read. */
  fromOffset: number
  /** Offset after the last one to read; equal to fromOffset when nothing is read. */
  toOffset: number
  /** First seq the group takes. */
  firstSeq: number
  /** Last seq the group takes; firstSeq - 1 when it takes none. */
  lastSeq: number
  /** Offsets in [fromOffset, toOffset) the mover set aside (dead-lettered, duplicates): not read, never decoded. */
  setAside: number[]
}

/** Seqs of a controller an operator accepted as lost (`xrc resume --discard-missing`). */
export interface DiscardedRange {
  controller: number
  firstSeq: number
  lastSeq: number
}

/**
 * A resync window event of a controller, carried by the group whose time covers `time` (a BEGIN: or, earlier,
 * the first group whose time passes its S; mover/groups/controllerStream.ts takeWindows).
 */
export interface JournalWindow extends ResyncWindow {
  controller: number
  time: number
}

/** A whole consistency group, parts joined. */
export interface ConsistencyGroup {
  session: string
  groupSeq: number
  groupTime: number
  updates: JournalUpdate[]
  controllers: ControllerMark[]
  /** Resync window events, in (time, controller) order; absent or empty when none. */
  windows?: JournalWindow[]
}
