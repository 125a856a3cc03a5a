/**
 * The reading half of the mover, for one run of the pipeline (one reader,
 * one former): each batch of an updates partition is decoded, checked and
 * fed to the former in offset order; a partition whose buffer passes
 * mover.maxBufferedBytes is paused until groups drain it below half.
 *
 * Nothing is skipped: a record that cannot be taken goes to `onReject`, a
 * gap or a time regression to `onHalt`, and the intake takes nothing more.
 */
import type { PartitionBatch } from '../lib/partitionReader.js'
import { isXrcError } from '../lib/errors.js'
import type { Logger } from '../lib/logger.js'
import type { AvroCodec } from '../schemas/codec.js'
import type { RecordSet } from '../schemas/recordSet.js'
import type { GroupFormer } from './groupFormer.js'
import type { MoverMetrics } from './moverMetrics.js'
import { decodeRecordSet } from './recordSetInput.js'

export interface UpdatesIntakeOptions {
  former: GroupFormer
  codec: AvroCodec<RecordSet>
  /** Where each partition's reading starts: earlier offsets are re-deliveries and are ignored. */
  startOffsets: ReadonlyMap<number, number>
  maxRecordSetBytes: number
  maxBufferedBytes: number
  groupMaxBytes: number
  metrics: MoverMetrics
  logger: Logger
  pause(partitions: number[]): void
  resume(partitions: number[]): void
  /** A record that cannot be taken (undecodable, malformed, too large). */
  onReject(err: unknown, partition: number, offset: number): void
  /** The stream itself is wrong (a seq gap, a time regression). */
  onHalt(err: unknown): void
  /** A group of groupMaxBytes is ready to cut. */
  onFull(): void
}

export interface UpdatesIntake {
  onBatch(batch: PartitionBatch): Promise<void>
  /** After a group was journaled: resumes the partitions it drained. */
  drained(partitions: readonly number[]): void
  /** Takes no more batches (the pipeline restarts or halts). */
  close(): void
  paused(): number[]
  lag(): Record<string, number>
  duplicateRecordSets(): number
}

export function createUpdatesIntake(options: UpdatesIntakeOptions): UpdatesIntake {
  const { former, metrics, maxBufferedBytes } = options
  // kafkajs re-delivers from the private group's start after restarting a crashed consumer
  const lastFed = new Map([...options.startOffsets].map(([p, o]) => [p, o - 1]))
  const paused = new Set<number>()
  const lag = new Map<number, number>()
  let duplicates = 0
  let open = true

  function stop(err: unknown, partition: number, offset: number): void {
    if (!open) return
    open = false
    // a bad record could be set aside (dead-lettered) one day; a gap, a regression or an unreachable registry never
    if (isXrcError(err, 'XRC_DECODE_FAILED') || isXrcError(err, 'XRC_INVALID_RECORD') || isXrcError(err, 'XRC_RECORD_TOO_LARGE')) options.onReject(err, partition, offset)
    else options.onHalt(err)
  }

  return {
    async onBatch(batch) {
      const { partition } = batch
      for (const message of batch.messages) {
        const offset = Number(message.offset)
        if (!open) return
        if (offset <= (lastFed.get(partition) ?? -1)) continue
        try {
          const rs = await decodeRecordSet(message, partition, options.codec, options.maxRecordSetBytes)
          if (!open) return
          const outcome = former.add(offset, rs)
          if (outcome.kind === 'duplicate') {
            duplicates++
            metrics.duplicateRecordSets.inc()
          }
          if (outcome.kind === 'duplicate' || outcome.kind === 'overlap') metrics.duplicateUpdates.inc(outcome.droppedUpdates)
        } catch (err) {
          stop(err, partition, offset)
          return
        }
        lastFed.set(partition, offset)
      }
      if (!open) return
      const last = batch.messages[batch.messages.length - 1]
      if (last !== undefined) {
        const behind = Math.max(0, Number(batch.highWatermark) - Number(last.offset) - 1)
        lag.set(partition, behind)
        metrics.partitionLag.set({ partition: String(partition) }, behind)
      }
      const buffered = former.bufferedBytes(partition)
      metrics.bufferedBytes.set({ partition: String(partition) }, buffered)
      if (buffered > maxBufferedBytes && !paused.has(partition)) {
        paused.add(partition)
        options.pause([partition])
        metrics.pausedPartitions.set(paused.size)
        options.logger.debug({ partition, buffered }, 'partition paused: buffer full')
      }
      if (former.cuttableBytes(options.groupMaxBytes) >= options.groupMaxBytes) options.onFull()
    },

    drained(partitions) {
      for (const p of partitions) metrics.bufferedBytes.set({ partition: String(p) }, former.bufferedBytes(p))
      // resume below half the bound, so a partition does not flap at the edge
      const ready = [...paused].filter((p) => former.bufferedBytes(p) <= maxBufferedBytes / 2)
      for (const p of ready) paused.delete(p)
      if (ready.length > 0) {
        options.resume(ready)
        options.logger.debug({ partitions: ready }, 'partitions resumed')
      }
      metrics.pausedPartitions.set(paused.size)
    },

    close() {
      open = false
    },

    paused: () => [...paused].sort((a, b) => a - b),
    lag: () => Object.fromEntries([...lag].map(([p, n]) => [String(p), n])),
    duplicateRecordSets: () => duplicates,
  }
}
