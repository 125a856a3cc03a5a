/**
 * The mover's contract: its options, states, status and lifecycle (built
 * by mover.ts).
 */
import type { KafkaClient } from '../lib/kafka/index.js'
import type { Registry } from 'prom-client'
import type { Config } from '../lib/config.js'
import type { ErrorCode, ErrorContext } from '../lib/errors.js'
import type { Logger } from '../lib/logger.js'
import type { HealthReport } from '../lib/metrics.js'
import type { OutageStatus } from '../lib/outage.js'
import type { Stage } from '../lib/stage.js'
import type { DiscardedSeqs } from './groups/index.js'
import type { JournalWriterHooks } from './journal/index.js'
import type { StartPoint } from './journal/index.js'
import type { FrozenController } from './intake/index.js'

export interface MoverOptions {
  config: Config
  logger: Logger
  /** Default: a client for config.kafka. */
  kafka?: KafkaClient
  /** Registry for the xrc_mover_* metrics; the composition root serves it. Default: a private one. */
  metrics?: Registry
  /** Fault injection around commits (tests). */
  hooks?: JournalWriterHooks
  /** How long start() waits for the updates topic to exist. Default 30 s. */
  topicWaitMs?: number
}

export type MoverState = 'created' | 'starting' | 'running' | 'recovering' | 'halted' | 'stopping' | 'stopped'

export interface MoverStatus {
  state: MoverState
  session: string
  /** The last group journaled (or found in the journal at start); 0 and undefined when none. */
  groupSeq: number
  groupTime: number | undefined
  /** The former's consistency time now (may lead the last group). */
  consistencyTime: number | undefined
  /** Controllers that have reported nothing since the start: T waits for them. */
  silentControllers: number[]
  bufferedBytes: Record<string, number>
  pausedPartitions: number[]
  lag: Record<string, number>
  groupsJournaled: number
  duplicateRecordSets: number
  /** Where the last (re)start took its offsets from. */
  startedFrom: StartPoint['source'] | undefined
  /** Controllers frozen at a broken stream: the session is halted for them until an operator resumes them. */
  frozen: FrozenController[]
  /**
   * The controllers' clock skew as the mover estimates it (mover/intake/clockSkew.ts), milliseconds: the greatest
   * offset from the mover's clock less the smallest, and each controller's offset; absent while unchecked or
   * before a controller was heard at the end of its partition.
   */
  clockSkew?: { skewMs: number; offsetsMs: Record<string, number> }
  /** Records dead-lettered by this process, by error code. */
  deadLettered: Record<string, number>
  /** Seqs discarded by operator decisions since this process started. */
  discarded: (DiscardedSeqs & { requestedBy: string })[]
  halt?: { code: ErrorCode; message: string; context: ErrorContext }
  /** An outage of Kafka or the registry the mover rides out (restarting with backoff as long as it lasts). */
  outage?: OutageStatus
}

/**
 * The mover as a pipeline stage (lib/stage.ts). `done` reports 'halted' with
 * the code when the mover is fenced (XRC_FENCED) or meets input it must not
 * skip; an outage of Kafka or the registry never ends it (it restarts with
 * backoff as long as the outage lasts, health() says unavailable); a frozen controller does not end the stage
 * (it waits for `xrc session resume`; health() says halted meanwhile).
 */
export interface Mover extends Stage<MoverStatus> {
  readonly name: 'mover'
  readonly metrics: Registry
  /**
   * Creates the journal topic if missing, waits for the updates topic,
   * claims the transactional id (fencing an older mover), restores from the
   * journal tail and starts reading and journaling. Throws when any of that
   * fails; the mover is then stopped.
   */
  start(): Promise<void>
  /**
   * Stops cutting groups; the transaction in progress commits first, or
   * with `abort` is aborted if its commit was not sent yet (as a crash would
   * leave it: the next mover starts from the journal). A transaction that
   * cannot finish within stopBoundMs (KafkaClient out of reach) is abandoned with
   * its producer: the broker aborts it, or the next mover's claim of the
   * transactional id does. Idempotent.
   */
  stop(options?: { abort?: boolean }): Promise<void>
  status(): MoverStatus
  /** For the /health endpoint: 'halted' (a halt, a frozen controller) and 'unavailable' (an outage) answer 503. */
  health(): HealthReport
}
