/**
 * What the applier service offers (applier.ts builds it): its options, its
 * status and its contract as a pipeline stage.
 */
import type { KafkaClient } from '../lib/kafka/index.js'
import type { Registry } from 'prom-client'
import type { Config } from '../lib/config.js'
import type { ErrorCode } from '../lib/errors.js'
import type { Logger } from '../lib/logger.js'
import type { OutageStatus } from '../lib/outage.js'
import type { Pool } from '../lib/postgres.js'
import type { Stage } from '../lib/stage.js'
import type { AvroCodec } from '../schemas/codec.js'
import type { JournalRecord } from '../schemas/journal.js'
import type { RecordSet } from '../schemas/recordSet.js'
import type { AppliedMark } from './journal/index.js'
import type { ImageState } from './resync/index.js'
import type { ApplierState, DelayHeld, StopReason } from './run/index.js'
import type { ApplyOutcome, BlockStore } from './store/index.js'

export interface ApplierOptions {
  config: Config
  logger: Logger
  /** Kafka client; made from config.kafka when absent. */
  kafka?: KafkaClient
  /** PostgreSQL pool; made from config.database when absent (and then ended by stop()); one passed in stays open. */
  pool?: Pool
  /** Registry for the applier's metrics; a private one when absent. */
  metrics?: Registry
  /** Journal codec; made (and the schema registered) from config.schemaRegistry when absent. */
  codec?: AvroCodec<JournalRecord>
  /** Updates-topic codec (record sets named by markers); made from config.schemaRegistry when absent. */
  updatesCodec?: AvroCodec<RecordSet>
  /** PostgreSQL schema of the secondary; config.applier.schema when absent (replay into another schema). */
  schema?: string
  /** Consistency time T (microseconds): apply the groups with groupTime <= T, then stop. */
  stopAtTime?: number
  /** Group seq N: apply the groups up to N, then stop (with stopAtTime too: whichever comes first). */
  stopAtGroup?: number
  /**
   * Create the journal topic when missing (the service: true, the default);
   * replay passes false, a missing journal is an error there.
   */
  createJournalTopic?: boolean
  /** Called after each group is applied or found a duplicate (progress reporting). */
  onGroup?: (event: GroupEvent) => void
  /**
   * Publish the last applied group on the session's applied topic for the
   * primary (the service: true, the default; replay: false).
   */
  publishApplied?: boolean
}

export interface GroupEvent {
  groupSeq: number
  groupTime: number
  journalOffset: number
  outcome: ApplyOutcome
  updates: number
}

export interface ApplierStatus {
  state: ApplierState
  session: string
  schema: string
  /** Last group the secondary holds (known after start). */
  lastApplied: AppliedMark | undefined
  /** Next journal offset to read. */
  journalPosition: number | undefined
  /** Groups applied and duplicates skipped since start(). */
  groupsApplied: number
  duplicatesSkipped: number
  /** Why a stopped applier stopped. */
  stopReason?: StopReason
  /** Why a halted applier halted. */
  halt?: { code: ErrorCode | undefined; message: string }
  /** Whether the image is consistent, or a resync is being applied (with the group it falls back on); after start. */
  image?: ImageState
  /** A delayed secondary (applier.delayMs > 0): the delay, the groups waiting for it and the oldest one's age. */
  delay?: DelayHeld
  /** An outage of PostgreSQL or the registry the applier rides out (retrying with backoff as long as it lasts). */
  outage?: OutageStatus
  /** The watchdog (applier.stallAfterMs): groups wait in the journal and none was applied for that long. */
  stall?: { since: string; lag: number; reason: string }
}

/**
 * The applier as a pipeline stage (lib/stage.ts). stop() lets the group being
 * applied commit (or never begin it) and aborts a retry's backoff; `done`
 * reports 'halted' with the code on a group out of order, a record that does
 * not decode, parts that do not form a group, an update the store cannot hold
 * (and 'failed' for an error of PostgreSQL no retry mends, with its own
 * error); an outage of PostgreSQL or the registry never ends it (health()
 * says 'unavailable' meanwhile, as it does when the watchdog finds it
 * stalled); 'stopped' with reason 'finished' at the stop time.
 */
export interface Applier extends Stage<ApplierStatus> {
  readonly name: 'applier'
  readonly store: BlockStore
  readonly metrics: Registry
  /**
   * Initialises the store, then follows the journal from the control row.
   * Throws if the store or Kafka cannot be reached.
   */
  start(): Promise<void>
  /** Stops reading; a group being applied finishes first (or was never begun). Idempotent. */
  stop(): Promise<void>
  /**
   * Waits until the applier has read the journal up to its end as the broker
   * reports it when called (the last stable offset; with `untilOffset`, up to
   * that offset) and applied every group below it: true. A transaction whose
   * commit() has returned but whose markers the broker has not yet written is
   * not below that end. False when the applier stops first (stop time or
   * stop()). Rejects with the halt error when it halts, XRC_TIMEOUT after
   * `timeoutMs` (default 60 s).
   */
  waitCaughtUp(options?: { timeoutMs?: number; untilOffset?: number }): Promise<boolean>
}
