/**
 * Where `xrc audit` reads: the partitions chosen, the offset each starts at
 * (the earliest retained, an offset, or the first record at or after a
 * time) and the end each stops before (what the broker reports when the
 * audit starts). The choices are pure; `readAuditRange` asks the broker.
 */
import type { KafkaClient } from '../../lib/kafka/index.js'
import { XrcError } from '../../lib/errors.js'
import { partitionOffsets } from '../../lib/kafka/index.js'

/** A partition's earliest retained offset and its end. */
export interface PartitionBounds {
  low: number
  high: number
}

/** Per partition: the first offset read and the offset the read stops before. */
export interface AuditRange {
  from: Map<number, number>
  to: Map<number, number>
}

/** What the audit was asked to read. */
export interface RangeWanted {
  /** Partitions to read; default all. */
  partitions?: readonly number[]
  /** Start offset (every chosen partition). */
  fromOffset?: number
  /** Start time, ms since the epoch (KafkaClient record timestamps). */
  fromTimeMs?: number
}

/** The partitions of `available` that are wanted (all when none is named), in ascending order. */
export function choosePartitions(available: Iterable<number>, wanted: readonly number[] | undefined): number[] {
  return [...available].filter((p) => wanted === undefined || wanted.includes(p)).sort((a, b) => a - b)
}

/**
 * Where a partition's read starts: `wanted` held within what is retained; a negative `wanted` (no record at or after
 * the time asked for) starts at the end.
 */
export function startOffset(bounds: PartitionBounds, wanted: number): number {
  return Math.min(bounds.high, Math.max(bounds.low, wanted < 0 ? bounds.high : wanted))
}

/** The range over `chosen`: each starts at its offset by time, else `fromOffset`, else its earliest retained. */
export function planRange(
  offsets: ReadonlyMap<number, PartitionBounds>,
  chosen: readonly number[],
  fromOffset: number | undefined,
  byTime: ReadonlyMap<number, number> | undefined,
): AuditRange {
  const bounds = (p: number): PartitionBounds => offsets.get(p) as PartitionBounds
  return {
    from: new Map(chosen.map((p) => [p, startOffset(bounds(p), byTime?.get(p) ?? fromOffset ?? bounds(p).low)])),
    to: new Map(chosen.map((p) => [p, bounds(p).high])),
  }
}

/**
 * Asks the broker for the topic's partitions and offsets and plans the range; undefined when the topic does not
 * exist. Throws XRC_USAGE when none of the partitions asked for exists.
 */
export async function readAuditRange(
  kafka: KafkaClient,
  topic: string,
  wanted: RangeWanted,
): Promise<AuditRange | undefined> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    if (!(await admin.listTopics()).includes(topic)) return undefined
    const offsets = await partitionOffsets(admin, topic)
    const chosen = choosePartitions(offsets.keys(), wanted.partitions)
    if (chosen.length === 0)
      throw new XrcError('XRC_USAGE', { reason: 'noSuchPartition', topic, partitions: [...offsets.keys()] })
    const byTime =
      wanted.fromTimeMs === undefined
        ? undefined
        : new Map(
            (await admin.fetchTopicOffsetsByTimestamp(topic, wanted.fromTimeMs)).map((x) => [
              x.partition,
              Number(x.offset),
            ]),
          )
    return planRange(offsets, chosen, wanted.fromOffset, byTime)
  } finally {
    await admin.disconnect()
  }
}
