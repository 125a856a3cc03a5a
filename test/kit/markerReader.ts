/**
 * Test kit: a journal read back as groups, the way the applier takes them.
 * The journal holds one marker per group (schemas/markers.ts): each is
 * resolved against the updates topic, read whole per partition with the
 * bounded reader (lib/kafka/topicRange.ts, read_committed, as the applier
 * reads it). Groups of the older format (updates in parts 0..parts-1 at
 * consecutive offsets) are joined as before, so a journal of either format
 * reads the same.
 *
 * A record of the updates topic that does not decode is handed to the
 * resolver as an entry whose record set throws when read: resolveMarker
 * reads only the offsets a marker names, so a marker that fails to set a
 * dead letter aside fails here too.
 */
import type { KafkaAdmin, KafkaClient } from '../../lib/kafka/index.js'
import { silentLogger } from '../../lib/logger.js'
import { partitionOffsets, readRange } from '../../lib/kafka/index.js'
import type { AvroCodec } from '../../schemas/codec.js'
import type { ConsistencyGroup, JournalRecord } from '../../schemas/journal.js'
import { isMarker, resolveMarker, type ReadRecordSet } from '../../schemas/markers.js'
import type { RecordSet } from '../../schemas/recordSet.js'
import { uniqueName } from './names.js'

/** A journal record with its offset. */
export interface JournalEntry {
  offset: number
  record: JournalRecord
}

/** Every record set of the updates topic, by partition, in offset order. */
export type UpdatesPartitions = ReadonlyMap<number, readonly ReadRecordSet[]>

/** A group read back, with the journal offset of its marker (or last part). */
export type ResolvedGroup = ConsistencyGroup & { journalOffset: number; marker: boolean }

/** Reads every partition of the updates topic from its start to its end (read_committed), decoding each record set. */
export async function readUpdatesPartitions(options: {
  kafka: KafkaClient
  admin: KafkaAdmin
  topic: string
  codec: AvroCodec<RecordSet>
  timeoutMs?: number
}): Promise<UpdatesPartitions> {
  const offsets = await partitionOffsets(options.admin, options.topic)
  const out = new Map<number, ReadRecordSet[]>([...offsets.keys()].map((p) => [p, []]))
  const pending: Promise<void>[] = []
  const { reachedEnd, error } = await readRange({
    kafka: options.kafka,
    topic: options.topic,
    from: new Map([...offsets].map(([p, o]) => [p, o.low])),
    to: new Map([...offsets].map(([p, o]) => [p, o.high])),
    isolation: 'read_committed',
    groupPrefix: uniqueName('marker-reader'),
    logger: silentLogger,
    timeoutMs: options.timeoutMs ?? 60_000,
    onMessage: (partition, m) => {
      const list = out.get(partition) ?? []
      out.set(partition, list)
      const offset = Number(m.offset)
      const at = list.length
      list.push(undecodable(partition, offset, 'not decoded yet'))
      pending.push(
        options.codec.decode(m.value as Buffer).then(
          (recordSet) => void (list[at] = { offset, recordSet }),
          (err: unknown) => void (list[at] = undecodable(partition, offset, String(err))),
        ),
      )
    },
  })
  await Promise.all(pending)
  if (!reachedEnd) throw new Error(`the updates topic ${options.topic} was not read to its end: ${error?.message}`)
  return out
}

function undecodable(partition: number, offset: number, why: string): ReadRecordSet {
  return {
    offset,
    get recordSet(): RecordSet {
      throw new Error(
        `a marker reads offset ${offset} of updates partition ${partition}, which does not decode (${why})`,
      )
    },
  }
}

/**
 * The groups of `entries` (the journal in offset order): markers resolved
 * against `updates`, older-format parts joined. Throws when a group's parts
 * are not 0..parts-1 at consecutive offsets, or when a marker does not
 * resolve (XRC_GROUP_INCOMPLETE names what is missing).
 */
export function resolveGroups(
  entries: readonly JournalEntry[],
  updates: UpdatesPartitions,
  blockSize: number,
): ResolvedGroup[] {
  const groups: ResolvedGroup[] = []
  let open: JournalEntry[] = []
  for (const e of entries) {
    const r = e.record
    if (isMarker(r)) {
      if (open.length > 0 || r.part !== 0 || r.parts !== 1 || r.updates.length > 0)
        throw new Error(
          `journal offset ${e.offset}: a marker is one record (part 0 of 1, no updates), not inside parts`,
        )
      const g = resolveMarker(r, (c) => updates.get(c) ?? [], blockSize, e.offset)
      groups.push({ ...g, journalOffset: e.offset, marker: true })
      continue
    }
    const first = open[0]
    const last = open[open.length - 1]
    if (first !== undefined && (r.groupSeq !== first.record.groupSeq || e.offset !== (last as JournalEntry).offset + 1))
      throw new Error(`journal offset ${e.offset}: part ${r.part} of group ${r.groupSeq} does not follow its group`)
    if (r.part !== open.length) throw new Error(`journal offset ${e.offset}: part ${r.part}, expected ${open.length}`)
    open.push(e)
    if (r.part === r.parts - 1) {
      groups.push({
        session: r.session,
        groupSeq: r.groupSeq,
        groupTime: r.groupTime,
        updates: open.flatMap((x) => x.record.updates),
        controllers: r.controllers,
        ...(r.windows !== undefined && r.windows.length > 0 ? { windows: r.windows } : {}),
        journalOffset: e.offset,
        marker: false,
      })
      open = []
    }
  }
  if (open.length > 0) throw new Error(`the journal ends inside group ${open[0]?.record.groupSeq}`)
  return groups
}

/** The updates topic read, then `entries` resolved against it (see resolveGroups). */
export async function resolveJournal(options: {
  kafka: KafkaClient
  admin: KafkaAdmin
  updatesTopic: string
  updatesCodec: AvroCodec<RecordSet>
  blockSize: number
  entries: readonly JournalEntry[]
}): Promise<ResolvedGroup[]> {
  const markers = options.entries.some((e) => isMarker(e.record))
  const updates = markers
    ? await readUpdatesPartitions({
        kafka: options.kafka,
        admin: options.admin,
        topic: options.updatesTopic,
        codec: options.updatesCodec,
      })
    : new Map()
  return resolveGroups(options.entries, updates, options.blockSize)
}
