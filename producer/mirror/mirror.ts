/**
 * Suspend and resync for the controllers a primary process runs (the
 * patents' error handling and dynamic resynchronisation).
 *
 *   duplex ──suspend──▶ suspended ──resume──▶ resyncing ──marks all sent──▶ duplex
 *                          ▲                      │
 *                          └───────suspend────────┘
 *
 * The transitions are a pure state machine (mirrorMachine.ts); this file is
 * the shell that performs their effects on the controllers, their sidefiles
 * and mirror.json.
 *
 * - suspend (KafkaClient unreachable for resync.suspendAfterUnreachableMs, a
 *   sidefile full for producer.sidefileWaitMs, `xrc suspend`): in one
 *   synchronous step every controller switches to marking (a write is marked
 *   for resync instead of captured) and, coming from duplex, S = a tick: the
 *   stream holds every change up to S. The state is saved in each
 *   controller's mirror.json before the first mark is made durable. No
 *   heartbeats while suspended, so the consistency time stays at or below S.
 * - resume (`xrc resume`, or by itself once Kafka answers when
 *   resync.autoResume): the secondary is told first, in each controller's
 *   own stream: a resync window BEGIN (epoch, S, blocks, reason) is made
 *   durable in the controller's sidefile, so a crash after the resume still
 *   delivers it (schemas/resyncWindow.ts). Then the state is saved, then the
 *   controllers capture again and a resync runner per controller sends the
 *   marked blocks (resyncRunner.ts). Every write and resync record after the
 *   BEGIN follows it in the stream with a later time; while suspended no
 *   heartbeat went out, so the consistency time stayed at or below S until
 *   the BEGIN arrived, and the mover puts the BEGIN in the first group whose
 *   time passes S (even below the BEGIN's own time: that group lacks the
 *   marked writes up to its time), so the secondary marks it inconsistent
 *   (schemas/resyncWindow.ts). When every mark is sent, each controller appends a window
 *   END at a fresh tick E, after all its resync records of the epoch: a
 *   group whose time covers E holds them all and is consistent again.
 * - rebase (`xrc resync`, after the journal or updates topic was lost):
 *   suspends with S = 0 and folds the change generations into the marks, so
 *   the resync copies exactly the blocks the secondary may lack.
 * - feedback: each applier publishes its last applied group on the session's
 *   applied topic; the primary follows it (appliedFollower.ts), and the
 *   minimum over every secondary heard (secondaries.ts: the slowest one)
 *   discards older change generations. Nothing heard, nothing discarded:
 *   both generations stay.
 */
import type { KafkaClient } from '../../lib/kafka/index.js'
import { Backoff } from '../../lib/backoff.js'
import type { Config } from '../../lib/config.js'
import { errorMessage } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import type { AppliedState } from '../../schemas/appliedState.js'
import { windowEnd } from '../../schemas/resyncWindow.js'
import { sessionTopics } from '../../schemas/topicNames.js'
import type { Controller, ControllerMirror } from '../controller/index.js'
import type { SessionClock } from '../sessionClock.js'
import { followAppliedState } from './appliedFollower.js'
import { INITIAL, resyncActive, step, type MachineState, type MirrorEffect, type MirrorEvent } from './mirrorMachine.js'
import { startMirrorMonitor } from './mirrorMonitor.js'
import type { MirrorRecord, MirrorState, SuspendReason } from './mirrorRecord.js'
import { mirrorStatus, type MirrorStatus } from './mirrorStatus.js'
import { MirrorUnits, type MirrorUnit } from './mirrorUnits.js'
import { ProgressCounter } from './resyncProgress.js'
import { runResync } from './resyncRunner.js'
import { confirmedAcross } from './secondaries.js'

export type { MirrorState, SuspendReason } from './mirrorRecord.js'
export type { MirrorStatus } from './mirrorStatus.js'
export type { ResyncProgress } from './resyncProgress.js'

export interface Mirror {
  /**
   * Opens a controller's change bitmaps and mirror state, then the controller itself with the hooks that consult
   * them.
   */
  open(
    id: number,
    volumes: readonly { name: string; blocks: number }[],
    controllerDir: string,
    openController: (hooks: ControllerMirror) => Promise<Controller>,
  ): Promise<Controller>
  /** Starts the monitor (triggers, auto-resume, feedback) and goes on with a resync the last run left unfinished. */
  start(io: MirrorIo): void
  /** Stops the monitor and any resync (its marks stay for the next start). */
  stop(): Promise<void>
  /** Saves and closes the change bitmaps: after the sidefiles are closed (their last trim may save generations). */
  close(): Promise<void>
  state(): MirrorState
  /** Suspends (idempotent). */
  suspend(reason: SuspendReason): Promise<MirrorStatus>
  /**
   * Starts the resync. Throws XRC_SIDEFILE_FULL (or XRC_CLOSED) when a
   * controller's sidefile has no room for the window's BEGIN within the wait
   * bound; the session stays suspended.
   */
  resume(): Promise<MirrorStatus>
  /**
   * After a lost journal or updates topic: suspends with nothing assumed on the secondary and marks every block
   * the change generations name.
   */
  rebase(): Promise<{ blocks: number; volumeBlocks: number }>
  /** A writer found a sidefile full for the wait bound. */
  sidefileFull(): void
  /** Kafka acknowledged a RESYNC record of `bytes`. */
  resyncRecordSent(bytes: number): void
  status(): MirrorStatus
}

/** What the mirror needs of the primary's way into Kafka. */
export interface MirrorIo {
  /** Since when the oldest unacknowledged send has been failing or waiting (ms since the epoch). */
  stalledSince(): number | undefined
  /** One quick round trip: resolves when Kafka answers and the topic is there. */
  probeKafka(): Promise<void>
  /** Failing sends retry at once instead of finishing their backoff. */
  retrySends(): void
  /** A new Kafka producer for the next send (the topic was made again). */
  resetKafka(): Promise<void>
  /** The Kafka client through which the secondary's applied state is followed. */
  kafka: KafkaClient
}

export interface MirrorOptions {
  config: Config
  clock: SessionClock
  logger: Logger
  onSuspend?: (reason: SuspendReason) => void
  onResyncBlocks?: (controller: number, blocks: number) => void
}

/** The mirror of a primary process: the state machine's shell. */
class SessionMirror implements Mirror {
  readonly #options: MirrorOptions
  readonly #settings: Config['resync']
  readonly #log: Logger
  readonly #units: MirrorUnits
  #machine: MachineState = INITIAL
  /** The chain of saves of mirror.json: marks wait for it, so a suspension is on disk before any mark is. */
  #persisted: Promise<void> = Promise.resolve()
  #resuming: Promise<MirrorStatus> | undefined
  #progress: ProgressCounter | undefined
  #confirmedTime: number | undefined
  /** The latest state of each secondary heard on the applied topic, by name. */
  readonly #secondaries = new Map<string, AppliedState>()
  #markedWrites = 0
  /** Marked writes whose mark is not yet made: a resync is not done while any is. */
  #marking = 0
  #resumedAt = 0
  #io: MirrorIo | undefined
  #follower: { stop: () => Promise<void> } | undefined
  #monitor: { stop: () => Promise<void> } | undefined
  #runners: Promise<void> | undefined

  constructor(options: MirrorOptions) {
    this.#options = options
    this.#settings = options.config.resync
    this.#log = options.logger.child({ component: 'mirror' })
    this.#units = new MirrorUnits(this.#log)
  }

  open(
    id: number,
    volumes: readonly { name: string; blocks: number }[],
    controllerDir: string,
    openController: (hooks: ControllerMirror) => Promise<Controller>,
  ): Promise<Controller> {
    return this.#units.open(id, volumes, controllerDir, (unit) => this.#hooks(unit), openController)
  }

  start(io: MirrorIo): void {
    this.#io = io
    void this.#dispatch({ type: 'start', records: this.#units.records() })
    this.#follower = this.#followSecondary(io.kafka)
    this.#monitor = startMirrorMonitor({
      settings: this.#settings,
      logger: this.#log,
      view: () => ({
        state: this.#machine.state,
        reason: this.#machine.reason,
        resumedAt: this.#resumedAt,
        sidefilesDrained: this.#units.sidefilesDrained(),
      }),
      stalledSince: () => io.stalledSince(),
      probeKafka: () => io.probeKafka(),
      suspend: (why) => this.#suspendNow(why),
      resume: () => this.resume(),
    })
  }

  async stop(): Promise<void> {
    void this.#dispatch({ type: 'stop' })
    await this.#monitor?.stop()
    await this.#follower?.stop()
    await this.#runners?.catch(() => undefined)
    await this.#persisted.catch(() => undefined)
  }

  close(): Promise<void> {
    return this.#units.close()
  }

  state(): MirrorState {
    return this.#machine.state
  }

  async suspend(why: SuspendReason): Promise<MirrorStatus> {
    this.#suspendNow(why)
    await this.#persisted
    return this.status()
  }

  resume(): Promise<MirrorStatus> {
    this.#resuming ??= this.#dispatch({ type: 'resume' })
      .then(() => this.status())
      .finally(() => (this.#resuming = undefined))
    return this.#resuming
  }

  async rebase(): Promise<{ blocks: number; volumeBlocks: number }> {
    await this.#dispatch({ type: 'rebase', tick: () => this.#options.clock.tick(), now: new Date().toISOString() })
    const blocks = await this.#units.foldGenerations()
    const volumeBlocks = this.#units.volumeBlocks()
    this.#log.warn(
      { newlyMarked: blocks, pendingBlocks: this.#units.pendingTotal(), volumeBlocks },
      'rebase: the change generations are marked for resync',
    )
    return { blocks: this.#units.pendingTotal(), volumeBlocks }
  }

  sidefileFull(): void {
    if (this.#settings.suspendOnSidefileFull) this.#suspendNow('sidefile-full')
  }

  resyncRecordSent(bytes: number): void {
    this.#progress?.bytesSent(bytes)
  }

  status(): MirrorStatus {
    return mirrorStatus({
      machine: this.#machine,
      autoResume: this.#settings.autoResume,
      markedWrites: this.#markedWrites,
      changes: this.#units.counts(),
      staleCopies: this.#units.staleCopies(),
      progress: this.#progress,
      confirmedTime: this.#confirmedTime,
      secondaries: this.#secondaries,
    })
  }

  /**
   * Steps the state machine and performs the effects, each started in the same synchronous step (so a
   * suspension's switch to marking and its save happen before any other code runs).
   */
  async #dispatch(event: MirrorEvent): Promise<void> {
    const { state, effects } = step(this.#machine, event)
    this.#machine = state
    await Promise.all(effects.map((e) => this.#perform(e)))
  }

  #perform(effect: MirrorEffect): Promise<void> | void {
    switch (effect.type) {
      case 'suspended':
        return this.#switchedToMarking(effect.reason, effect.record)
      case 'save':
        return this.#save(effect.record)
      case 'append-begin':
        return this.#appendBegin(effect)
      case 'capturing':
        return this.#capturing(effect.epoch, effect.topicsRemade)
      case 'start-runners':
        this.#resumedAt = Date.now()
        this.#progress = new ProgressCounter(effect.epoch, this.#units.pendingTotal())
        return this.#startRunners(effect.epoch)
      case 'append-end':
        return this.#appendEnd(effect.epoch)
      case 'resync-complete':
        this.#progress?.ended(effect.endTime)
        this.#log.info(
          { epoch: effect.epoch, endTime: effect.endTime },
          'resync complete: the secondary is consistent again once it applies a group at or after the end time',
        )
        return
      case 'recovered': {
        const { state, reason, consistentUntil, epoch } = this.#machine
        const pendingBlocks = this.#units.pendingTotal()
        this.#log.warn({ state, reason, consistentUntil, epoch, pendingBlocks }, 'mirror state recovered')
        return
      }
    }
  }

  /** Saves `record` in every controller's folder, after `first`; chained, so saves land in order. */
  #save(record: MirrorRecord, first: readonly Promise<unknown>[] = []): Promise<void> {
    const run = async (): Promise<void> => {
      await Promise.all(first)
      await this.#units.save(record)
    }
    this.#persisted = this.#persisted.then(run, run)
    return this.#persisted
  }

  #suspendNow(why: SuspendReason): void {
    void this.#dispatch({
      type: 'suspend',
      reason: why,
      tick: () => this.#options.clock.tick(),
      now: new Date().toISOString(),
    })
  }

  /** The switching step of a suspension, after the state machine moved to marking. */
  #switchedToMarking(why: SuspendReason, record: MirrorRecord): void {
    const floors = this.#units.switchToMarking()
    this.#options.onSuspend?.(why)
    this.#log.warn(
      { reason: why, consistentUntil: record.consistentUntil, pendingBlocks: this.#units.pendingTotal() },
      'session suspended: writes go on and are marked for resync',
    )
    void this.#save(record, floors).catch((err: unknown) =>
      this.#log.error({ err }, 'saving the suspended state failed'),
    )
  }

  #hooks(unit: MirrorUnit): ControllerMirror {
    return {
      mode: () => this.#machine.mode,
      captured: (volume, block, count, time) => this.#captured(unit, volume, block, count, time),
      mark: (volume, block, count) => this.#mark(unit, volume, block, count),
      recovered: (volume, block, count) => unit.tracker.noteSent(volume, block, count),
      checkpoint: () => unit.tracker.checkpoint(),
    }
  }

  #captured(unit: MirrorUnit, volume: string, block: number, count: number, time: number): (() => void) | undefined {
    unit.tracker.noteSent(volume, block, count)
    if (this.#machine.state !== 'resyncing') return undefined
    unit.queue.hostWrite(volume, block, count, time)
    const at = this.#machine.captureEpoch
    // once durable the write carries these blocks: the resync need not, unless a suspension marked them again since
    return () => {
      if (this.#machine.captureEpoch === at) unit.tracker.clearPending(volume, block, count)
    }
  }

  #mark(unit: MirrorUnit, volume: string, block: number, count: number): Promise<void> {
    this.#markedWrites++
    this.#marking++
    // the suspension is on disk before any mark is
    return this.#persisted.then(() => unit.tracker.markPending(volume, block, count)).finally(() => this.#marking--)
  }

  /**
   * The secondary learns first, in each controller's stream before anything captured from here on: a group past
   * S must never be applied as if it were consistent. Durable before the state says resyncing, so a restart that
   * finds 'resyncing' knows its BEGIN is in the stream (one found 'suspended' begins again: the secondary keeps
   * the earlier S of a window it has not seen end).
   */
  async #appendBegin(plan: Extract<MirrorEffect, { type: 'append-begin' }>): Promise<void> {
    const { epoch, consistentUntil, reason } = plan
    await this.#units.appendWindow((u) => ({
      event: 'BEGIN',
      epoch,
      consistentUntil,
      blocks: u.tracker.pendingCount(),
      reason,
    }))
    await this.#dispatch({ type: 'begin-durable', epoch })
    await this.#dispatch({ type: 'resyncing-saved', epoch, topicsRemade: plan.topicsRemade })
  }

  /** Captures again: the sends still backing off from the outage go now, then the runners start. */
  async #capturing(epoch: number, topicsRemade: boolean): Promise<void> {
    this.#resumedAt = Date.now()
    // with a producer that knows the topic as it is
    if (topicsRemade)
      await this.#io
        ?.resetKafka()
        .catch((err: unknown) => this.#log.warn({ err }, 'recreating the Kafka producer failed'))
    this.#io?.retrySends()
    const total = this.#units.pendingTotal()
    this.#progress = new ProgressCounter(epoch, total)
    this.#log.info({ epoch, blocks: total, consistentUntil: this.#machine.consistentUntil }, 'resync started')
    this.#startRunners(epoch)
  }

  #startRunners(epoch: number): void {
    const { config, clock, logger } = this.#options
    const pacing = {
      groupBlocks: this.#settings.groupBlocks,
      maxGroupsInFlight: this.#settings.maxGroupsInFlight,
      maxBytesPerSecond: this.#settings.maxBytesPerSecond,
    }
    const runs = this.#units.all().map((u) =>
      runResync({
        controller: u.controller as Controller,
        tracker: u.tracker,
        queue: u.queue,
        clock,
        blockSize: config.session.blockSize,
        pacing,
        logger,
        captureEpoch: () => this.#machine.captureEpoch,
        active: () => resyncActive(this.#machine, epoch),
        settled: () => this.#marking === 0,
        onGroupDurable: (blocks) => {
          this.#progress?.blocksSent(blocks)
          this.#options.onResyncBlocks?.(u.id, blocks)
        },
      }),
    )
    this.#runners = Promise.all(runs).then((outcomes) =>
      this.#dispatch({ type: 'runners-ended', epoch, allDone: outcomes.every((o) => o === 'done') }),
    )
    this.#runners.catch((err: unknown) => this.#log.error({ err }, 'resync failed'))
  }

  /**
   * Each END is stamped in the step that queues it, after the controller's every resync record of the epoch
   * (they are in its sidefile before it): E is above all of them. A suspension rejects an END still waiting for
   * sidefile space (releaseWaiters), so none is stamped after the suspension's marks began.
   */
  async #appendEnd(epoch: number): Promise<void> {
    const backoff = new Backoff({ initialMs: 250, maxMs: 5000 })
    while (resyncActive(this.#machine, epoch)) {
      let ends: number[]
      try {
        ends = await this.#units.appendWindow(() => windowEnd(epoch))
      } catch (err) {
        // a full sidefile: the ENDs that went in are harmless twice (the secondary ends a window once)
        this.#log.warn({ err: errorMessage(err) }, 'could not append the resync end to every sidefile; retrying')
        await backoff.wait()
        continue
      }
      return this.#dispatch({ type: 'end-appended', epoch, endTime: Math.max(...ends) })
    }
  }

  #followSecondary(kafka: KafkaClient): { stop: () => Promise<void> } {
    const { config } = this.#options
    return followAppliedState({
      kafka,
      topic: sessionTopics(config.session.name).applied,
      registry: config.schemaRegistry,
      groupPrefix: `xrc.${config.session.name}.primary`,
      replication: config.topics,
      logger: this.#log,
      onState: (applied) => {
        this.#secondaries.set(applied.secondary, applied)
        this.#confirm()
      },
      onForget: (secondary) => {
        if (!this.#secondaries.delete(secondary)) return
        this.#log.info({ secondary }, 'secondary forgotten: it no longer holds back the change generations')
        this.#confirm()
      },
    })
  }

  /** Every stream write up to the time every secondary holds is committed on each: the older generation may go. */
  #confirm(): void {
    const time = confirmedAcross(this.#secondaries)
    // a secondary heard with no group yet: nothing is confirmed now (what was discarded before stays discarded; a
    // time below it discards nothing more)
    this.#confirmedTime = time
    if (time !== undefined) this.#units.confirm(time, () => this.#options.clock.tick())
  }
}

/** The suspend/resync mirror of a primary process's controllers. */
export function createMirror(options: MirrorOptions): Mirror {
  return new SessionMirror(options)
}
