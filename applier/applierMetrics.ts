/**
 * The applier's Prometheus metrics (names prefixed xrc_applier_). The
 * session is a default label of the registry the composition root makes
 * (lib/metrics.ts createMetricsRegistry), so it is not repeated here.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client'

export interface ApplierMetrics {
  groupsApplied: Counter
  duplicateGroups: Counter
  blocksApplied: Counter
  bytesApplied: Counter
  applySeconds: Histogram
  /** PostgreSQL transactions that committed groups (a batch of several groups is one). */
  transactions: Counter
  /** Groups per committed transaction. */
  batchGroups: Histogram
  /** Consistency time T of the last applied group, seconds since the epoch. */
  consistencyTime: Gauge
  /** Recovery point: wall clock minus the group's T when it was applied, milliseconds. */
  rpoMs: Gauge
  /** The same, as a distribution over groups (seconds), for percentiles. */
  rpoSeconds: Histogram
  /** Journal records not applied yet: the journal's end minus the applier's position (read at scrape time). */
  journalLag: Gauge
  /** 1 while the applier is halted on an error that needs an operator. */
  halted: Gauge
  /** Bytes of the updates topic held for markers (read-ahead plus decoded updates). */
  updatesHeldBytes: Gauge
  /** The most bytes of the updates topic held at once since start. */
  updatesHeldPeakBytes: Gauge
}

/**
 * Registers the applier's metrics on `registry` (one applier per registry).
 * `journalLag` is asked at scrape time (it needs the broker); undefined
 * while there is no journal reader.
 */
export function createApplierMetrics(
  registry: Registry,
  sources: { journalLag?: () => Promise<number | undefined> } = {},
): ApplierMetrics {
  const registers = [registry]
  return {
    groupsApplied: new Counter({
      name: 'xrc_applier_groups_applied_total',
      help: 'Consistency groups applied to the secondary',
      registers,
    }),
    duplicateGroups: new Counter({
      name: 'xrc_applier_duplicate_groups_total',
      help: 'Groups read again and skipped because they were applied before',
      registers,
    }),
    transactions: new Counter({
      name: 'xrc_applier_transactions_total',
      help: 'PostgreSQL transactions that applied groups (consecutive ready groups apply in one)',
      registers,
    }),
    batchGroups: new Histogram({
      name: 'xrc_applier_batch_groups',
      help: 'Groups applied per PostgreSQL transaction',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers,
    }),
    blocksApplied: new Counter({
      name: 'xrc_applier_blocks_applied_total',
      help: 'Blocks written to the secondary',
      registers,
    }),
    bytesApplied: new Counter({
      name: 'xrc_applier_bytes_applied_total',
      help: 'Block bytes written to the secondary',
      registers,
    }),
    applySeconds: new Histogram({
      name: 'xrc_applier_apply_seconds',
      help: 'Time to apply one group (one PostgreSQL transaction)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    consistencyTime: new Gauge({
      name: 'xrc_applier_consistency_time_seconds',
      help: 'Consistency time T of the last applied group (seconds since the epoch)',
      registers,
    }),
    rpoMs: new Gauge({
      name: 'xrc_applier_rpo_milliseconds',
      help: 'Wall clock minus the consistency time of the last group, when it was applied',
      registers,
    }),
    rpoSeconds: new Histogram({
      name: 'xrc_applier_rpo_seconds',
      help: 'Recovery point at each group applied: wall clock minus its consistency time T at commit',
      buckets: [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30, 60, 300],
      registers,
    }),
    journalLag: new Gauge({
      name: 'xrc_applier_journal_lag_records',
      help: "Journal offsets not applied yet: the journal's last stable offset minus the applier's position",
      registers,
      async collect() {
        // a scrape must not fail because the broker is slow: keep the last value then
        const lag = await sources.journalLag?.().catch(() => undefined)
        if (lag !== undefined) this.set(lag)
      },
    }),
    halted: new Gauge({
      name: 'xrc_applier_halted',
      help: '1 while the applier is halted and needs an operator',
      registers,
    }),
    updatesHeldBytes: new Gauge({
      name: 'xrc_applier_updates_held_bytes',
      help: 'Bytes of the updates topic held for markers: read-ahead plus the updates markers take',
      registers,
    }),
    updatesHeldPeakBytes: new Gauge({
      name: 'xrc_applier_updates_held_peak_bytes',
      help: 'The most bytes of the updates topic held at once since the applier started',
      registers,
    }),
  }
}
