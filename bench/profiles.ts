/**
 * How big and how long each measurement is. `full` is what BENCHMARKS.md
 * reports (several runs, medians); `quick` runs every measurement once,
 * small, in about a minute, so CI keeps the harness working.
 */
import type { FillSettings } from './fill.js'

export interface BenchProfile {
  name: 'quick' | 'full'
  /** Whole runs (each on its own session); the report takes medians. */
  runs: number
  /** 4 KiB records for ProducerPerformance and for kafkajs sendBatch. */
  kafkaRecords: number
  /** 4 KiB blocks COPYed for PostgreSQL's ceiling. */
  copyBlocks: number
  /** Size of each of the 8 volumes, blocks: writes land at random over them. */
  blocksPerVolume: number
  /** Low-rate writes first, so connections, JIT and caches are warm. */
  warmupMs: number
  warmupRate: number
  /**
   * The highest sustained rate: windowed closed loop for this long; the first `maxSettleMs` is left out of the rate.
   */
  maxMs: number
  maxSettleMs: number
  /** Writers of the closed loop, and at most this many writes not yet committed on the secondary. */
  concurrency: number
  window: number
  /** Each RPO phase (50% and 80% of the highest rate), and the write path without mirroring. */
  rpoMs: number
  /**
   * Write-path cost: this many rounds of one slice through the primary and
   * one to plain files, alternated, so a change in the machine's background
   * load hits both sides alike.
   */
  writePathRounds: number
  writePathSliceMs: number
  /**
   * The RPO phase at 50% again with the mover restarted at each of these
   * mover.groupMinIntervalMs (the floor between cuts: a busy stream is cut
   * that often): what more groups buy in RPO, and cost in CPU, on this
   * machine.
   */
  groupFloorsMs: number[]
  /** Backlog of the late applier, blocks; the second backlog is ten times this. */
  backlogBlocks: number
  /** Bound on waiting for the secondary to catch up after a phase. */
  drainTimeoutMs: number
  /**
   * Every block of every volume written once through the pipeline before the highest rate is measured, so the
   * secondary holds them all as a running mirror's does (bench/fill.ts); absent: measured on an empty store.
   */
  fill?: FillSettings
}

/** The two profiles; `--runs` and `--backlog` override theirs. */
export const PROFILES: Readonly<Record<BenchProfile['name'], BenchProfile>> = {
  quick: {
    name: 'quick',
    runs: 1,
    kafkaRecords: 10_000,
    copyBlocks: 5000,
    blocksPerVolume: 65_536,
    warmupMs: 1000,
    warmupRate: 300,
    maxMs: 5000,
    maxSettleMs: 1000,
    concurrency: 64,
    window: 16_384,
    rpoMs: 3000,
    writePathRounds: 1,
    writePathSliceMs: 1500,
    groupFloorsMs: [10],
    backlogBlocks: 1000,
    drainTimeoutMs: 120_000,
  },
  full: {
    name: 'full',
    runs: 3,
    kafkaRecords: 200_000,
    copyBlocks: 100_000,
    blocksPerVolume: 65_536,
    warmupMs: 3000,
    warmupRate: 300,
    maxMs: 25_000,
    maxSettleMs: 5000,
    concurrency: 64,
    window: 16_384,
    rpoMs: 30_000,
    writePathRounds: 8,
    writePathSliceMs: 3000,
    groupFloorsMs: [10, 40],
    backlogBlocks: 40_000,
    drainTimeoutMs: 600_000,
    fill: { blocksPerWrite: 64, concurrency: 8, chunkBlocks: 8192 },
  },
}
