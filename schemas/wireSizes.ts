/**
 * Wire sizes: upper bounds of the bytes our records take on the wire, in
 * one place, so that a record set, a journal part and the largest write are
 * sized by the same arithmetic. Pure, no imports: lib/config.ts and
 * lib/kafka/topicAdmin.ts use it as well as the stages.
 *
 * Avro binary encoding (Avro specification, "Binary Encoding"):
 *
 *   int, long      zig-zag varint, 7 bits a byte: at most 5 bytes for an
 *                  int (32 bits), 10 for a long (64 bits)
 *   string, bytes  the length as a long, then the bytes. A length below
 *                  2^34 zig-zags below 2^35 and so takes at most 5 bytes;
 *                  no record here comes near 16 GiB
 *   enum           the symbol's index as an int (at most 5 bytes)
 *   array          blocks of items, each led by its count as a long; avsc
 *                  writes one block and a terminating 0, so at most 5 + 1
 *                  bytes around the items (an empty array is the 0 alone)
 *   record         its fields one after another, nothing around them
 *
 * A value on a topic is in the Confluent wire format (schemas/codec.ts):
 * the magic byte 0 and the 4-byte schema id, then the Avro body.
 *
 * The bounds are checked against real avsc encodings of random records in
 * wireSizes.test.ts.
 */

/** Magic byte (0) and the registry's schema id (big-endian int32) before every Avro value. */
export const WIRE_HEADER_BYTES = 5
/** Largest varint of an Avro int. */
export const INT_MAX_BYTES = 5
/** Largest varint of an Avro long. */
export const LONG_MAX_BYTES = 10
/** Largest length prefix of a string or bytes value (and of an array block's count): any length below 2^34. */
export const LENGTH_MAX_BYTES = 5
/** An array's one block count and its terminating zero. */
export const ARRAY_FRAMING_BYTES = LENGTH_MAX_BYTES + 1
/** An enum's index. */
export const ENUM_MAX_BYTES = INT_MAX_BYTES

/**
 * Longest volume name, in bytes, a write can carry: one length byte frames
 * it in the sidefile (producer/sidefile/sidefileEntry.ts). The configuration
 * allows at most 63 ASCII characters; the bound holds for any name the
 * sidefile takes, so the largest write does not depend on the names chosen.
 */
export const MAX_VOLUME_NAME_BYTES = 255

// --- RecordSet (schemas/recordSet.ts) ---------------------------------------

/** A union's branch index (an int): the optional resync window's null or record. */
export const UNION_INDEX_MAX_BYTES = INT_MAX_BYTES

/**
 * A record set's bytes besides its session name and its updates: the wire
 * header, the session's length, controller (int), kind (enum), firstSeq,
 * lastSeq, minTime, maxTime (four longs), the updates array's framing and
 * the window's branch index (null on all but a window heartbeat).
 */
export const RECORD_SET_FIXED_BYTES =
  WIRE_HEADER_BYTES +
  LENGTH_MAX_BYTES +
  INT_MAX_BYTES +
  ENUM_MAX_BYTES +
  4 * LONG_MAX_BYTES +
  ARRAY_FRAMING_BYTES +
  UNION_INDEX_MAX_BYTES

/**
 * A resync window event's bytes besides its reason: event (enum), epoch, consistentUntil, blocks (longs),
 * the reason's length.
 */
export const RESYNC_WINDOW_FIXED_BYTES = ENUM_MAX_BYTES + 3 * LONG_MAX_BYTES + LENGTH_MAX_BYTES

/** Upper bound of a window event's bytes in a record set (schemas/resyncWindow.ts). */
export function recordSetWindowBytes(window: { reason: string }): number {
  return RESYNC_WINDOW_FIXED_BYTES + Buffer.byteLength(window.reason)
}

/** An update's bytes in a record set besides its volume name and data: seq, time, block (longs) and two lengths. */
export const RECORD_SET_UPDATE_FIXED_BYTES = 3 * LONG_MAX_BYTES + 2 * LENGTH_MAX_BYTES

/** Upper bound of a record set of `session` with no updates (a heartbeat), wire header included. */
export function recordSetBaseBytes(session: string): number {
  return RECORD_SET_FIXED_BYTES + Buffer.byteLength(session)
}

/** Upper bound of what one update adds to a record set. */
export function recordSetUpdateBytes(update: { volume: string; data: Buffer }): number {
  return RECORD_SET_UPDATE_FIXED_BYTES + Buffer.byteLength(update.volume) + update.data.length
}

/**
 * The largest data of one write, bytes: whole blocks such that a record
 * set holding that write alone (to a volume of the longest name) stays
 * within `maxRecordSetBytes`, the largest record set the mover accepts.
 */
export function maxWriteBytes(maxRecordSetBytes: number, session: string, blockSize: number): number {
  const room = maxRecordSetBytes - recordSetBaseBytes(session) - RECORD_SET_UPDATE_FIXED_BYTES - MAX_VOLUME_NAME_BYTES
  return Math.max(0, Math.floor(room / blockSize) * blockSize)
}

// --- JournalRecord (schemas/journal.ts) -------------------------------------

/**
 * A journal record's bytes besides its session name, updates, marks and
 * window events: the wire header, the session's length, groupSeq and
 * groupTime (longs), part and parts (ints), and the framing of its three
 * arrays.
 */
export const JOURNAL_RECORD_FIXED_BYTES =
  WIRE_HEADER_BYTES + LENGTH_MAX_BYTES + 2 * LONG_MAX_BYTES + 2 * INT_MAX_BYTES + 3 * ARRAY_FRAMING_BYTES

/**
 * A journal update's bytes besides its volume name and data: controller (int), seq, time, block (longs), two lengths.
 */
export const JOURNAL_UPDATE_FIXED_BYTES = INT_MAX_BYTES + 3 * LONG_MAX_BYTES + 2 * LENGTH_MAX_BYTES

/** One controller mark: controller (int), lastSeq, lastTime, resumeOffset (longs). */
export const CONTROLLER_MARK_BYTES = INT_MAX_BYTES + 3 * LONG_MAX_BYTES

/** Upper bound of one window event in a journal record: controller (int), time (long), the event and its reason. */
export function journalWindowBytes(window: { reason: string }): number {
  return INT_MAX_BYTES + LONG_MAX_BYTES + RESYNC_WINDOW_FIXED_BYTES + Buffer.byteLength(window.reason)
}

/** Upper bound of a journal record of `session` with no updates and no marks, wire header included. */
export function journalRecordBaseBytes(session: string): number {
  return JOURNAL_RECORD_FIXED_BYTES + Buffer.byteLength(session)
}

/** Upper bound of what one block update adds to a journal record. */
export function journalUpdateBytes(update: { volume: string; data: Buffer }): number {
  return JOURNAL_UPDATE_FIXED_BYTES + Buffer.byteLength(update.volume) + update.data.length
}

/**
 * A marker's ranges: controller (int), fromOffset, toOffset, firstSeq,
 * lastSeq (longs) and the framing of its setAside array; each set-aside
 * offset adds a long.
 */
export const UPDATES_RANGE_FIXED_BYTES = INT_MAX_BYTES + 4 * LONG_MAX_BYTES + ARRAY_FRAMING_BYTES

/** A marker's discarded range: controller (int), firstSeq, lastSeq (longs). */
export const DISCARDED_RANGE_BYTES = INT_MAX_BYTES + 2 * LONG_MAX_BYTES

/** The arrays a marker adds to the record's framing (windows, ranges, discarded). */
export const MARKER_ARRAYS_FRAMING_BYTES = 3 * ARRAY_FRAMING_BYTES

/**
 * Room a marker keeps for its window events and discarded ranges, besides
 * its ranges and marks, when the mover sizes its set-aside offsets
 * (markerSetAsideRoom). Both are rare (a resync window event per
 * suspension, a discarded range per operator decision); the writer checks
 * the encoded marker anyway.
 */
export const MARKER_RESERVE_BYTES = 16 * 1024

/** Upper bound of a marker (schemas/markers.ts): one journal record, no updates. */
export function markerBytes(marker: {
  session: string
  controllers: readonly unknown[]
  windows?: readonly { reason: string }[]
  ranges?: readonly { setAside: readonly number[] }[]
  discarded?: readonly unknown[]
}): number {
  const ranges = marker.ranges ?? []
  return (
    journalRecordBaseBytes(marker.session) +
    MARKER_ARRAYS_FRAMING_BYTES +
    marker.controllers.length * CONTROLLER_MARK_BYTES +
    (marker.windows ?? []).reduce((n, w) => n + journalWindowBytes(w), 0) +
    ranges.reduce((n, r) => n + UPDATES_RANGE_FIXED_BYTES + r.setAside.length * LONG_MAX_BYTES, 0) +
    (marker.discarded ?? []).length * DISCARDED_RANGE_BYTES
  )
}

/**
 * How many set-aside offsets a marker of `controllers` controllers may list
 * within `maxRecordBytes` (mover.journalRecordMaxBytes), keeping
 * MARKER_RESERVE_BYTES for window events and discarded ranges: the bound
 * the mover cuts groups by (GroupFormer CutOptions.maxSetAside). At least 0.
 */
export function markerSetAsideRoom(session: string, controllers: number, maxRecordBytes: number): number {
  const fixed =
    journalRecordBaseBytes(session) +
    MARKER_ARRAYS_FRAMING_BYTES +
    controllers * (CONTROLLER_MARK_BYTES + UPDATES_RANGE_FIXED_BYTES) +
    MARKER_RESERVE_BYTES
  return Math.max(0, Math.floor((maxRecordBytes - fixed) / LONG_MAX_BYTES))
}

/**
 * What a journal record holding a single block needs besides the block's
 * data, as the configuration checks it (mover.journalRecordMaxBytes must
 * hold one block plus this). A round allowance above the worst case of
 * names the configuration permits (63 characters each: 52 + 63 fixed record
 * bytes, 45 + 63 for the update, 223 in all), so that a field added to the
 * schema later does not at once make valid settings invalid.
 */
export const JOURNAL_SINGLE_BLOCK_FRAMING_BYTES = 1024

// --- Kafka ------------------------------------------------------------------

/**
 * A record batch's header, message format v2 (KIP-98): base offset (8),
 * length (4), partition leader epoch (4), magic (1), CRC (4), attributes (2),
 * last offset delta (4), first and max timestamp (8 + 8), producer id (8),
 * producer epoch (2), base sequence (4), record count (4).
 */
export const KAFKA_BATCH_HEADER_BYTES = 61

/**
 * A record's fields in a v2 batch besides its key, value and headers: its
 * length (varint, at most 5), attributes (1), timestamp delta (varlong, 10),
 * offset delta, key length, value length and header count (varints, 5 each).
 */
export const KAFKA_RECORD_FIXED_BYTES = 5 + 1 + 10 + 4 * 5

/**
 * Upper bound of a record's bytes in a batch besides its value: its framing, key and headers (each with two length
 * varints).
 */
export function kafkaRecordOverheadBytes(key: string, headers: Readonly<Record<string, string>>): number {
  let bytes = KAFKA_RECORD_FIXED_BYTES + Buffer.byteLength(key)
  for (const [k, v] of Object.entries(headers))
    bytes += 2 * LENGTH_MAX_BYTES + Buffer.byteLength(k) + Buffer.byteLength(v)
  return bytes
}

/**
 * Kafka's framing around record values, kept free under a topic's
 * max.message.bytes (which bounds a whole record batch): the batch header
 * and one record's overhead (kafkaRecordOverheadBytes: with our headers,
 * schemas/topicNames.ts HEADERS, a 63-character session and decimal
 * numbers, some 300 bytes). The sender counts every record's overhead
 * against its batch bound, so a batch of many small records stays within
 * it too; a single record set up to mover.maxRecordSetBytes needs this
 * allowance. A round 16 KiB leaves room for headers added later.
 */
export const KAFKA_FRAMING_BYTES = 16 * 1024
