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
  /** Consistency time T of the last applied group, seconds since the epoch. */
  consistencyTime: Gauge
  /** Recovery point: wall clock minus the group's T when it was applied, milliseconds. */
  rpoMs: Gauge
  /** 1 while the applier is halted on an error that needs an operator. */
  halted: Gauge
}

/** Registers the applier's metrics on `registry` (one applier per registry). */
export function createApplierMetrics(registry: Registry): ApplierMetrics {
  const registers = [registry]
  return {
    groupsApplied: new Counter({ name: 'xrc_applier_groups_applied_total', help: 'Consistency groups applied to the secondary', registers }),
    duplicateGroups: new Counter({ name: 'xrc_applier_duplicate_groups_total', help: 'Groups read again and skipped because they were applied before', registers }),
    blocksApplied: new Counter({ name: 'xrc_applier_blocks_applied_total', help: 'Blocks written to the secondary', registers }),
    bytesApplied: new Counter({ name: 'xrc_applier_bytes_applied_total', help: 'Block bytes written to the secondary', registers }),
    applySeconds: new Histogram({
      name: 'xrc_applier_apply_seconds',
      help: 'Time to apply one group (one PostgreSQL transaction)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    consistencyTime: new Gauge({ name: 'xrc_applier_consistency_time_seconds', help: 'Consistency time T of the last applied group (seconds since the epoch)', registers }),
    rpoMs: new Gauge({ name: 'xrc_applier_rpo_milliseconds', help: 'Wall clock minus the consistency time of the last group, when it was applied', registers }),
    halted: new Gauge({ name: 'xrc_applier_halted', help: '1 while the applier is halted and needs an operator', registers }),
  }
}
