/**
 * The mover's Prometheus metrics (names prefixed xrc_mover_). The session
 * is a default label of the registry the composition root makes
 * (lib/metrics.ts createMetricsRegistry), so it is not repeated here.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { FormedGroup } from './groups/index.js'

export interface MoverMetrics {
  /** Consistency time T of the last journaled group, seconds since the epoch. */
  consistencyTime: Gauge
  groupsJournaled: Counter
  /** Blocks journaled (after last-writer-wins inside groups). */
  updatesJournaled: Counter
  bytesJournaled: Counter
  groupBytes: Histogram
  /** Records of each updates partition not read yet (high watermark minus position). */
  partitionLag: Gauge<'partition'>
  /** Block bytes read and not yet journaled, per updates partition. */
  bufferedBytes: Gauge<'partition'>
  pausedPartitions: Gauge
  /** The skew between the controllers' clocks as the mover estimates it (intake/clockSkew.ts). */
  clockSkew: Gauge
  duplicateRecordSets: Counter
  duplicateUpdates: Counter
  /** Transactions that failed or whose outcome was unknown (each followed by a restart from the journal). */
  journalFailures: Counter
  /** 1 while the mover is halted or a controller is frozen: it needs an operator. */
  halted: Gauge
  /** Records set aside on the dead-letter topic, by error code. */
  deadLettered: Counter<'code'>
  /** Controllers frozen at a broken stream (the consistency time waits for them). */
  frozenControllers: Gauge
  /** Seqs an operator discarded to resume a controller (writes never journaled). */
  discardedSeqs: Counter
}

/** Registers the mover's metrics on `registry` (one mover per registry). */
export function createMoverMetrics(registry: Registry): MoverMetrics {
  const registers = [registry]
  return {
    consistencyTime: new Gauge({
      name: 'xrc_mover_consistency_time_seconds',
      help: 'Consistency time T of the last journaled group (seconds since the epoch)',
      registers,
    }),
    groupsJournaled: new Counter({
      name: 'xrc_mover_groups_journaled_total',
      help: 'Consistency groups committed to the journal',
      registers,
    }),
    updatesJournaled: new Counter({
      name: 'xrc_mover_updates_journaled_total',
      help: 'Blocks the journaled groups take (their writes split into blocks, before last-writer-wins)',
      registers,
    }),
    bytesJournaled: new Counter({
      name: 'xrc_mover_bytes_journaled_total',
      help: 'Block bytes the journaled groups take (before last-writer-wins)',
      registers,
    }),
    groupBytes: new Histogram({
      name: 'xrc_mover_group_bytes',
      help: 'Block bytes per journaled group',
      buckets: [0, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864],
      registers,
    }),
    partitionLag: new Gauge({
      name: 'xrc_mover_partition_lag_records',
      help: 'Records of an updates partition not read yet',
      labelNames: ['partition'],
      registers,
    }),
    bufferedBytes: new Gauge({
      name: 'xrc_mover_buffered_bytes',
      help: 'Block bytes read from an updates partition and not journaled yet',
      labelNames: ['partition'],
      registers,
    }),
    pausedPartitions: new Gauge({
      name: 'xrc_mover_paused_partitions',
      help: 'Updates partitions paused for backpressure',
      registers,
    }),
    clockSkew: new Gauge({
      name: 'xrc_mover_clock_skew_seconds',
      help: "Skew between the controllers' clocks as the mover estimates it (greatest offset less the smallest)",
      registers,
    }),
    duplicateRecordSets: new Counter({
      name: 'xrc_mover_duplicate_record_sets_total',
      help: 'Record sets dropped because every seq was seen before (re-sends)',
      registers,
    }),
    duplicateUpdates: new Counter({
      name: 'xrc_mover_duplicate_updates_total',
      help: 'Updates dropped because their seq was seen before (whole or partial re-sends)',
      registers,
    }),
    journalFailures: new Counter({
      name: 'xrc_mover_journal_failures_total',
      help: 'Journal transactions that failed or whose outcome was unknown',
      registers,
    }),
    halted: new Gauge({
      name: 'xrc_mover_halted',
      help: '1 while the mover is halted or a controller is frozen: it needs an operator',
      registers,
    }),
    deadLettered: new Counter({
      name: 'xrc_mover_dead_lettered_total',
      help: 'Records of the updates topic set aside on the dead-letter topic, by error code',
      labelNames: ['code'],
      registers,
    }),
    frozenControllers: new Gauge({
      name: 'xrc_mover_frozen_controllers',
      help: 'Controllers frozen at a broken stream until an operator resumes them',
      registers,
    }),
    discardedSeqs: new Counter({
      name: 'xrc_mover_discarded_seqs_total',
      help: 'Seqs (writes) an operator discarded to resume a frozen controller',
      registers,
    }),
  }
}

/** Counts a journaled group. */
export function countJournaled(metrics: MoverMetrics, group: FormedGroup): void {
  metrics.groupsJournaled.inc()
  metrics.updatesJournaled.inc(group.blocks)
  metrics.bytesJournaled.inc(group.bytes)
  metrics.groupBytes.observe(group.bytes)
  metrics.consistencyTime.set(group.groupTime / 1e6)
}
