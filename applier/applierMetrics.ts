/**
 * The applier's Prometheus metrics (names prefixed xrc_applier_). The
 * session is a default label of the registry the composition root makes
 * (lib/metrics.ts createMetricsRegistry), so it is not repeated here.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { DelayHeld } from './run/index.js'
import type { SnapshotSpace } from './store/index.js'

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
  /** Recovery point: wall clock minus the last group's T when it was applied, growing while groups wait, ms. */
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
  /** applier.delayMs, seconds (0: not a delayed secondary). */
  delaySeconds: Gauge
  /** Groups in hand waiting for the delay (read at scrape time). */
  delayWaitingGroups: Gauge
  /** Age of the oldest group waiting for the delay, seconds; 0 when none waits (read at scrape time). */
  delayOldestWaitingSeconds: Gauge
  /** Snapshots of the secondary by state, active or pending (read at scrape time, cached). */
  snapshots: Gauge
  /** Stored bytes of the block versions snapshots keep (read at scrape time, cached). */
  snapshotBytesHeld: Gauge
  /** Snapshots deleted by retention (applier.snapshots). */
  snapshotsRetired: Counter
}

/**
 * Registers the applier's metrics on `registry` (one applier per registry).
 * `journalLag` is asked at scrape time (it needs the broker); undefined
 * while there is no journal reader.
 */
export function createApplierMetrics(
  registry: Registry,
  sources: {
    journalLag?: () => Promise<number | undefined>
    delayHeld?: () => DelayHeld
    /** The recovery point now while groups wait (it grows during a stall); undefined keeps the last applied's. */
    rpoNow?: () => number | undefined
    snapshotSpace?: () => Promise<SnapshotSpace | undefined>
  } = {},
): ApplierMetrics {
  const registers = [registry]
  return {
    ...delayMetrics(registers, sources.delayHeld),
    ...snapshotMetrics(registers, sources.snapshotSpace),
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
      help:
        'Recovery point: wall clock minus the consistency time of the last group applied, measured when it was ' +
        'applied, and growing with the wall clock while the journal holds groups not applied (a stall)',
      registers,
      collect() {
        const rpo = sources.rpoNow?.()
        if (rpo !== undefined) this.set(rpo)
      },
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

/** The delay a delayed secondary holds (applier.delayMs), read at scrape time. */
function delayMetrics(
  registers: Registry[],
  held: (() => DelayHeld) | undefined,
): Pick<ApplierMetrics, 'delaySeconds' | 'delayWaitingGroups' | 'delayOldestWaitingSeconds'> {
  return {
    delaySeconds: new Gauge({
      name: 'xrc_applier_delay_seconds',
      help: 'The delay a delayed secondary applies groups with (applier.delayMs); 0: none',
      registers,
      collect() {
        if (held) this.set(held().delayMs / 1000)
      },
    }),
    delayWaitingGroups: new Gauge({
      name: 'xrc_applier_delay_waiting_groups',
      help: 'Groups read from the journal and waiting for the delay (the rest of the backlog waits in Kafka)',
      registers,
      collect() {
        if (held) this.set(held().groupsWaiting)
      },
    }),
    delayOldestWaitingSeconds: new Gauge({
      name: 'xrc_applier_delay_oldest_waiting_seconds',
      help: 'Age of the oldest group waiting for the delay (wall clock minus its consistency time); 0: none waits',
      registers,
      collect() {
        if (held) this.set((held().oldestWaitingMs ?? 0) / 1000)
      },
    }),
  }
}

/** The snapshots' count and space (SnapshotCare caches the read), and what retention deleted. */
function snapshotMetrics(
  registers: Registry[],
  space: (() => Promise<SnapshotSpace | undefined>) | undefined,
): Pick<ApplierMetrics, 'snapshots' | 'snapshotBytesHeld' | 'snapshotsRetired'> {
  return {
    snapshots: new Gauge({
      name: 'xrc_applier_snapshots',
      help: 'Snapshots of the secondary by state: active (pinning a group) or pending (waiting for their target)',
      labelNames: ['state'],
      registers,
      async collect() {
        // a scrape must not fail because PostgreSQL is slow: keep the last values then
        const s = await space?.()
        if (s === undefined) return
        this.set({ state: 'active' }, s.active)
        this.set({ state: 'pending' }, s.pending)
      },
    }),
    snapshotBytesHeld: new Gauge({
      name: 'xrc_applier_snapshot_bytes_held',
      help: 'Stored bytes of the block versions snapshots keep (copy on write), after compression',
      registers,
      async collect() {
        const s = await space?.()
        if (s !== undefined) this.set(s.bytes)
      },
    }),
    snapshotsRetired: new Counter({
      name: 'xrc_applier_snapshots_retired_total',
      help: 'Snapshots deleted by retention (applier.snapshots.maxCount, maxAgeMs)',
      registers,
    }),
  }
}
