/**
 * Suspend and resync for the controllers a primary process runs (the
 * patents' error handling and dynamic resynchronisation).
 *
 *   duplex ──suspend──▶ suspended ──resume──▶ resyncing ──marks all sent──▶ duplex
 *                          ▲                      │
 *                          └───────suspend────────┘
 *
 * - suspend (Kafka unreachable for resync.suspendAfterUnreachableMs, a
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
 * - feedback: the applier publishes its last applied group on the session's
 *   applied topic; the primary follows it (appliedFollower.ts), and its
 *   consistency time discards older change generations. Nothing heard,
 *   nothing discarded: both generations stay.
 */
import type { Kafka } from 'kafkajs'
import { Backoff } from '../../lib/backoff.js'
import type { Config } from '../../lib/config.js'
import { errorMessage } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import type { AppliedState, SecondaryImage } from '../../schemas/appliedState.js'
import { windowEnd } from '../../schemas/resyncWindow.js'
import { sessionTopics } from '../../schemas/topicNames.js'
import { openChangeTracker, type ChangeCounts, type ChangeTracker } from '../changes/index.js'
import type { Controller, ControllerMirror } from '../controller/index.js'
import { followAppliedState } from './appliedFollower.js'
import { startMirrorMonitor } from './mirrorMonitor.js'
import {
  combineRecords,
  loadMirrorRecord,
  resumesByItself,
  saveMirrorRecord,
  type MirrorRecord,
  type MirrorState,
  type SuspendReason,
} from './mirrorRecord.js'
import { ProgressQueue } from './resyncOrdering.js'
import { ProgressCounter, type ResyncProgress } from './resyncProgress.js'
import { runResync } from './resyncRunner.js'
import type { SessionClock } from '../sessionClock.js'

export type { MirrorState, SuspendReason } from './mirrorRecord.js'
export type { ResyncProgress } from './resyncProgress.js'

export interface MirrorStatus {
  state: MirrorState
  reason?: SuspendReason
  since?: string
  /** S of the current suspension or resync (session-clock µs); absent in duplex. */
  consistentUntil?: number
  epoch: number
  /** Writes acknowledged while suspended, since this process started. */
  markedWrites: number
  resync?: ResyncProgress
  changes: ChangeCounts
  /** The consistency time of the last group the secondary said it applied (the applied topic). */
  confirmedTime?: number
  /** The secondary's last applied state as it told it: group, image state, when it said so. */
  secondary?: { groupSeq: number; groupTime?: number; image: SecondaryImage; publishedAt: string }
  /** Suspended by an outage or a full sidefile with resync.autoResume on: it resumes (and resyncs) by itself. */
  resumesItself?: boolean
}

export interface Mirror {
  /**
   * Opens a controller's change bitmaps and mirror state, then the controller itself with the hooks that
   * consult them.
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
   * After a lost journal or updates topic: suspends with nothing assumed on the secondary and marks every
   * block the change generations name.
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
  kafka: Kafka
}

export interface MirrorOptions {
  config: Config
  clock: SessionClock
  logger: Logger
  onSuspend?: (reason: SuspendReason) => void
  onResyncBlocks?: (controller: number, blocks: number) => void
}

interface Unit {
  id: number
  dir: string
  tracker: ChangeTracker
  queue: ProgressQueue
  controller?: Controller
  record: MirrorRecord
  volumeBlocks: number
}

export function createMirror(options: MirrorOptions): Mirror {
  const { clock } = options
  const settings = options.config.resync
  const log = options.logger.child({ component: 'mirror' })
  const units = new Map<number, Unit>()
  let state: MirrorState = 'duplex'
  let reason: SuspendReason | undefined
  let since: string | undefined
  let consistentUntil = 0
  let epoch = 0
  let mode: 'capture' | 'mark' = 'capture'
  let captureEpoch = 0
  let persisted: Promise<void> = Promise.resolve()
  let resuming: Promise<MirrorStatus> | undefined
  let progress: ProgressCounter | undefined
  let confirmedTime: number | undefined
  let secondary: AppliedState | undefined
  let follower: { stop: () => Promise<void> } | undefined
  let markedWrites = 0
  /** Marked writes whose mark is not yet made: a resync is not done while any is. */
  let marking = 0
  let running = false
  let monitor: { stop: () => Promise<void> } | undefined
  let runners: Promise<void> | undefined
  let resumedAt = 0
  let io: MirrorIo | undefined

  const record = (): MirrorRecord => ({
    state,
    consistentUntil,
    epoch,
    ...(reason ? { reason } : {}),
    ...(since ? { since } : {}),
  })
  const pendingTotal = (): number => [...units.values()].reduce((n, u) => n + u.tracker.pendingCount(), 0)

  /** Saves the state in every controller's folder, after `first`; chained, so saves land in order. */
  function persist(first: readonly Promise<unknown>[] = []): Promise<void> {
    const rec = record()
    const run = async (): Promise<void> => {
      await Promise.all(first)
      for (const u of units.values()) {
        await saveMirrorRecord(u.dir, rec)
        u.record = rec
      }
    }
    persisted = persisted.then(run, run)
    return persisted
  }

  function hooks(unit: Unit): ControllerMirror {
    return {
      mode: () => mode,
      captured(volume, block, count, time) {
        unit.tracker.noteSent(volume, block, count)
        if (state !== 'resyncing') return undefined
        unit.queue.hostWrite(volume, block, count, time)
        const at = captureEpoch
        // once durable the write carries these blocks: the resync need not, unless a suspension marked them again since
        return () => {
          if (captureEpoch === at) unit.tracker.clearPending(volume, block, count)
        }
      },
      mark(volume, block, count) {
        markedWrites++
        marking++
        // the suspension is on disk before any mark is
        return persisted.then(() => unit.tracker.markPending(volume, block, count)).finally(() => marking--)
      },
      recovered: (volume, block, count) => unit.tracker.noteSent(volume, block, count),
      checkpoint: () => unit.tracker.checkpoint(),
    }
  }

  function suspendNow(why: SuspendReason): void {
    if (state === 'suspended') {
      // an operator's suspension is not resumed by itself
      if (why === 'operator' || why === 'journal-lost') reason = why
      return
    }
    mode = 'mark'
    captureEpoch++
    // coming from duplex the secondary can be consistent up to now; during a resync it has not been since S
    if (state === 'duplex') consistentUntil = clock.tick()
    state = 'suspended'
    reason = why
    since = new Date().toISOString()
    // still the switching step: each redo floor covers exactly the writes captured so far. Marks and marked
    // writes wait for the floors and the saved state (persisted), so recovery never redoes an older entry over them
    const floors = [...units.values()].map((u) => u.controller?.checkpointRedo())
    // a writer still waiting for sidefile space would take a seq and a time after S: it goes on marked instead
    for (const u of units.values()) u.controller?.releaseWaiters()
    options.onSuspend?.(why)
    log.warn(
      { reason: why, consistentUntil, pendingBlocks: pendingTotal() },
      'session suspended: writes go on and are marked for resync',
    )
    void persist(floors.filter((f) => f !== undefined)).catch((err: unknown) =>
      log.error({ err }, 'saving the suspended state failed'),
    )
  }

  function startRunners(): void {
    const runEpoch = epoch
    const active = (): boolean => running && state === 'resyncing' && epoch === runEpoch
    runners = Promise.all(
      [...units.values()].map((u) =>
        runResync({
          controller: u.controller as Controller,
          tracker: u.tracker,
          queue: u.queue,
          clock,
          blockSize: options.config.session.blockSize,
          pacing: {
            groupBlocks: settings.groupBlocks,
            maxGroupsInFlight: settings.maxGroupsInFlight,
            maxBytesPerSecond: settings.maxBytesPerSecond,
          },
          logger: options.logger,
          captureEpoch: () => captureEpoch,
          active,
          settled: () => marking === 0,
          onGroupDurable(blocks) {
            progress?.blocksSent(blocks)
            options.onResyncBlocks?.(u.id, blocks)
          },
        }),
      ),
    ).then(async (outcomes) => {
      if (outcomes.every((o) => o === 'done') && active()) await finishResync(runEpoch)
    })
    runners.catch((err: unknown) => log.error({ err }, 'resync failed'))
  }

  async function finishResync(runEpoch: number): Promise<void> {
    const backoff = new Backoff({ initialMs: 250, maxMs: 5000 })
    let end = 0
    while (running && state === 'resyncing' && epoch === runEpoch) {
      try {
        // each END is stamped in the step that queues it, after the controller's every resync record of the
        // epoch (they are in its sidefile before it): E is above all of them. A suspension rejects an END still
        // waiting for sidefile space (releaseWaiters), so none is stamped after the suspension's marks began
        const ends = await Promise.all(
          [...units.values()].map((u) => (u.controller as Controller).appendWindow(windowEnd(runEpoch))),
        )
        end = Math.max(...ends)
        break
      } catch (err) {
        // a full sidefile: the ENDs that went in are harmless twice (the secondary ends a window once)
        log.warn({ err: errorMessage(err) }, 'could not append the resync end to every sidefile; retrying')
        await backoff.wait()
      }
    }
    if (!running || state !== 'resyncing' || epoch !== runEpoch) return
    progress?.ended(end)
    state = 'duplex'
    reason = undefined
    since = undefined
    consistentUntil = 0
    await persist()
    log.info(
      { epoch: runEpoch, endTime: end },
      'resync complete: the secondary is consistent again once it applies a group at or after the end time',
    )
  }

  async function resumeNow(): Promise<MirrorStatus> {
    if (state !== 'suspended') return status()
    const topicsRemade = reason === 'journal-lost'
    const nextEpoch = epoch + 1
    const why = reason ?? 'operator'
    // the secondary learns first, in each controller's stream before anything captured from here on: a group
    // past S must never be applied as if it were consistent. Durable before the state says resyncing, so a
    // restart that finds 'resyncing' knows its BEGIN is in the stream (one found 'suspended' begins again: the
    // secondary keeps the earlier S of a window it has not seen end)
    await Promise.all(
      [...units.values()].map((u) =>
        (u.controller as Controller).appendWindow({
          event: 'BEGIN',
          epoch: nextEpoch,
          consistentUntil,
          blocks: u.tracker.pendingCount(),
          reason: why,
        }),
      ),
    )
    if (state !== 'suspended') return status()
    epoch = nextEpoch
    state = 'resyncing'
    await persist()
    // a suspension while the state was saved wins: it stays marking
    if ((state as MirrorState) !== 'resyncing' || epoch !== nextEpoch) return status()
    // one synchronous step: captures again from here, and a write now supersedes its blocks' marks
    mode = 'capture'
    captureEpoch++
    resumedAt = Date.now()
    // Kafka answers: the sends still backing off from the outage go now, with a producer that knows the topic as it is
    if (topicsRemade)
      await io?.resetKafka().catch((err: unknown) => log.warn({ err }, 'recreating the Kafka producer failed'))
    io?.retrySends()
    const total = pendingTotal()
    progress = new ProgressCounter(epoch, total)
    log.info({ epoch, blocks: total, consistentUntil }, 'resync started')
    startRunners()
    return status()
  }

  function status(): MirrorStatus {
    const counts = [...units.values()].reduce<ChangeCounts>(
      (acc, u) => {
        const c = u.tracker.counts()
        return { pending: acc.pending + c.pending, older: acc.older + c.older, newer: acc.newer + c.newer }
      },
      { pending: 0, older: 0, newer: 0 },
    )
    const resync: ResyncProgress | undefined = progress?.snapshot(
      state === 'resyncing' ? counts.pending : 0,
      [...units.values()].reduce((n, u) => n + u.queue.staleCopies, 0),
    )
    return {
      state,
      epoch,
      markedWrites,
      changes: counts,
      ...(reason ? { reason } : {}),
      ...(since ? { since } : {}),
      ...(state !== 'duplex' ? { consistentUntil } : {}),
      ...(resync ? { resync } : {}),
      ...(confirmedTime !== undefined ? { confirmedTime } : {}),
      ...(secondary !== undefined
        ? {
            secondary: {
              groupSeq: secondary.groupSeq,
              ...(secondary.groupTime !== null ? { groupTime: secondary.groupTime } : {}),
              image: secondary.image,
              publishedAt: new Date(secondary.publishedAt).toISOString(),
            },
          }
        : {}),
      ...(state === 'suspended' && resumesByItself(reason, settings.autoResume) ? { resumesItself: true } : {}),
    }
  }

  async function resume(): Promise<MirrorStatus> {
    resuming ??= resumeNow().finally(() => (resuming = undefined))
    return resuming
  }

  return {
    async open(id, volumes, controllerDir, openController) {
      const tracker = await openChangeTracker({ controllerDir, volumes, logger: log.child({ controller: id }) })
      try {
        const unit: Unit = {
          id,
          dir: controllerDir,
          tracker,
          queue: new ProgressQueue(),
          record: await loadMirrorRecord(controllerDir),
          volumeBlocks: volumes.reduce((n, v) => n + v.blocks, 0),
        }
        units.set(id, unit)
        const c = await openController(hooks(unit))
        unit.controller = c
        return c
      } catch (err) {
        units.delete(id)
        await tracker.close().catch(() => undefined)
        throw err
      }
    },

    start(ioOptions) {
      io = ioOptions
      running = true
      const recovered = combineRecords(
        [...units.values()].map((u) => ({ record: u.record, pending: u.tracker.pendingCount() })),
      )
      ;({ state, consistentUntil, epoch, reason, since } = recovered)
      mode = state === 'suspended' ? 'mark' : 'capture'
      if (state !== 'duplex')
        log.warn({ state, reason, consistentUntil, epoch, pendingBlocks: pendingTotal() }, 'mirror state recovered')
      if (state === 'resyncing') {
        // a resync the last run left: its BEGIN was durable in every sidefile before the state said resyncing; go on
        resumedAt = Date.now()
        progress = new ProgressCounter(epoch, pendingTotal())
        startRunners()
      }
      follower = followAppliedState({
        kafka: ioOptions.kafka,
        topic: sessionTopics(options.config.session.name).applied,
        registryUrl: options.config.schemaRegistry.url,
        secondary: options.config.applier.schema,
        groupPrefix: `xrc.${options.config.session.name}.primary`,
        logger: log,
        onState(applied) {
          secondary = applied
          // every stream write up to its time is on the secondary, committed: the older generation may go
          if (applied.groupTime === null) return
          confirmedTime = applied.groupTime
          for (const u of units.values()) u.tracker.confirm(applied.groupTime, clock.tick())
        },
      })
      monitor = startMirrorMonitor({
        settings,
        logger: log,
        view: () => ({
          state,
          reason,
          resumedAt,
          sidefilesDrained: [...units.values()].every(
            (u) => (u.controller?.status().sidefile.bytes ?? 0) <= (u.controller?.status().sidefile.maxBytes ?? 0) / 2,
          ),
        }),
        stalledSince: () => ioOptions.stalledSince(),
        probeKafka: () => ioOptions.probeKafka(),
        suspend: suspendNow,
        resume,
      })
    },

    async stop() {
      running = false
      await monitor?.stop()
      await follower?.stop()
      await runners?.catch(() => undefined)
      await persisted.catch(() => undefined)
    },

    async close() {
      for (const u of units.values())
        await u.tracker
          .close()
          .catch((err: unknown) => log.error({ err, controller: u.id }, 'closing the change bitmaps failed'))
      units.clear()
    },

    state: () => state,

    async suspend(why) {
      suspendNow(why)
      await persisted
      return status()
    },

    resume,

    async rebase() {
      if (state === 'resyncing' || state === 'duplex') suspendNow('journal-lost')
      reason = 'journal-lost'
      consistentUntil = 0 // the secondary will start again from a new journal: nothing after its image can be assumed
      await persist()
      let blocks = 0
      for (const u of units.values()) blocks += await u.tracker.foldGenerations()
      const volumeBlocks = [...units.values()].reduce((n, u) => n + u.volumeBlocks, 0)
      log.warn(
        { newlyMarked: blocks, pendingBlocks: pendingTotal(), volumeBlocks },
        'rebase: the change generations are marked for resync',
      )
      return { blocks: pendingTotal(), volumeBlocks }
    },

    sidefileFull() {
      if (settings.suspendOnSidefileFull) suspendNow('sidefile-full')
    },

    resyncRecordSent(bytes) {
      progress?.bytesSent(bytes)
    },

    status,
  }
}
