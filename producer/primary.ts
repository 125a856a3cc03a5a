/**
 * A session's primary site in one process: the controllers it runs (all of
 * the session's, or a chosen subset so that each controller can run in a
 * process of its own), one session clock shared by them, one Kafka
 * producer, the sender, and the producer's metrics.
 *
 * Lifecycle: createPrimary() wires; start() recovers every controller
 * (sidefile redo, seqs continue, the clock starts above every time sent
 * before) and starts sending in the background, so host writes are taken
 * even while Kafka is out of reach; stop() refuses new writes, lets those in
 * progress finish, sends what it can within a bound and leaves the rest in
 * the sidefiles to be sent on the next start.
 *
 * Suspend and resync (producer/mirror/mirror.ts): when Kafka stays out of reach, a
 * sidefile stays full or an operator asks, the primary suspends: writes go
 * on, marked for resync in durable change bitmaps; resume sends the marked
 * blocks as RESYNC records.
 */
import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'
import type { Kafka } from 'kafkajs'
import type { Registry } from 'prom-client'
import type { Config } from '../lib/config.js'
import { XrcError, isXrcError } from '../lib/errors.js'
import { createFaultPoints } from '../lib/faultPoints.js'
import { createKafka } from '../lib/kafka/index.js'
import type { Logger } from '../lib/logger.js'
import { createMetricsRegistry, type HealthReport } from '../lib/metrics.js'
import type { AvroCodec } from '../schemas/codec.js'
import type { RecordSet } from '../schemas/recordSet.js'
import { sessionTopics } from '../schemas/topicNames.js'
import {
  controllerDir,
  openController,
  type Controller,
  type ControllerStatus,
  type WriteAck,
} from './controller/index.js'
import { createKafkaTransport } from './sender/index.js'
import { createMirror, type MirrorStatus } from './mirror/index.js'
import { createProducerMetrics } from './producerMetrics.js'
import { createResyncMetrics } from './mirror/index.js'
import { createSecondaryLink } from './mirror/index.js'
import { recordSetBaseBytes } from './sender/index.js'
import { createSender, type KafkaState, type Sender } from './sender/index.js'
import { createSessionClock, type SessionClock } from './sessionClock.js'
import type { SidefileFullEvent } from './sidefile/index.js'

export type { WriteAck } from './controller/index.js'

/** Events of a primary, for what reacts to trouble (the suspend issue). */
export interface PrimaryEvents {
  /** A writer got XRC_SIDEFILE_FULL: the controller's sidefile stayed at its bound for sidefileWaitMs. */
  'sidefile.full': SidefileFullEvent & { controller: number }
  /** Sends (or the connection) to Kafka began failing at `since` (ms since the epoch). */
  'kafka.unreachable': { since: number; error: string }
  /** Kafka answers again after `downMs`. */
  'kafka.reachable': { downMs: number }
}

export interface WriteRequest {
  volume: string
  /** First block written. */
  block: number
  /** Whole blocks. */
  data: Buffer
  /** Causal token: the time of a write the writer saw acknowledged; this write gets a later time. */
  after?: number
}

export interface PrimaryStatus {
  session: string
  state: 'created' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed'
  topic: string
  kafka: { state: KafkaState; unreachableSince?: string; lastError?: string }
  controllers: (ControllerStatus & { recordSets: number; heartbeats: number; lastHeartbeatTime?: number })[]
  /** Suspend and resync: duplex, suspended or resyncing, with the resync's progress and the change bitmaps' counts. */
  mirror: MirrorStatus
}

export interface PrimaryOptions {
  config: Config
  logger: Logger
  /** Controllers run by this process (default: every controller of the session). */
  controllerIds?: readonly number[]
  /** Defaults: a kafkajs client from config.kafka, a registry labelled {service: producer, session}, the wall-clock session clock. */
  kafka?: Kafka
  registry?: Registry
  clock?: SessionClock
  /** A ready RecordSet codec; registered from config.schemaRegistry otherwise. */
  codec?: AvroCodec<RecordSet>
  /** Bound on stop()'s flush. Default 5000 ms. */
  flushTimeoutMs?: number
}

export interface Primary {
  readonly session: string
  readonly topic: string
  readonly controllerIds: readonly number[]
  readonly registry: Registry
  /** Largest data of one write, bytes (whole blocks that fit one record set). */
  readonly maxWriteBytes: number
  /** Resolves when the primary ends by itself (the sender hit an error it cannot retry), with the reason; undefined after stop(). */
  readonly done: Promise<Error | undefined>
  start(): Promise<void>
  stop(): Promise<void>
  /**
   * Writes whole blocks through the owning controller; resolves once the
   * write is durable in the sidefile and on the volume. Errors (XrcError):
   * XRC_NOT_FOUND (no such volume, or its controller runs elsewhere),
   * XRC_INVALID_RECORD, XRC_RECORD_TOO_LARGE, XRC_SIDEFILE_FULL, XRC_CLOSED.
   */
  write(request: WriteRequest): Promise<WriteAck>
  /** Reads `count` blocks from the primary volume. */
  read(volume: string, block: number, count: number): Promise<Buffer>
  status(): PrimaryStatus
  health(): HealthReport
  /** Suspends the session (operator): writes go on, marked for resync; no automatic resume. */
  suspend(): Promise<MirrorStatus>
  /** Resumes: the marked blocks are resynced. Throws XRC_POSTGRES_UNREACHABLE when the secondary cannot be told. */
  resume(): Promise<MirrorStatus>
  /** After a lost journal or updates topic: suspends and marks every block not confirmed applied on the secondary (see mirror.ts). */
  rebase(): Promise<{ blocks: number; volumeBlocks: number }>
  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof PrimaryEvents>(event: K, listener: (payload: PrimaryEvents[K]) => void): () => void
}

export function createPrimary(options: PrimaryOptions): Primary {
  const { config, logger } = options
  const session = config.session.name
  const settings = config.producer
  const blockSize = config.session.blockSize
  const log = logger.child({ component: 'primary', session })
  const all = config.session.controllers
  const ids = options.controllerIds ?? all.map((c) => c.id)
  for (const id of ids) {
    if (!all.some((c) => c.id === id))
      throw new XrcError(
        'XRC_CONFIG_INVALID',
        `controller ${id} is not in session ${session} (controllers: ${all.map((c) => c.id).join(', ')})`,
        { context: { setting: 'session.controllers' } },
      )
  }
  const owner = new Map(all.flatMap((c) => c.volumes.map((v) => [v.name, c.id] as const)))
  const topic = sessionTopics(session).updates
  const clock = options.clock ?? createSessionClock()
  const registry = options.registry ?? createMetricsRegistry({ service: 'producer', session })
  const events = new EventEmitter()
  const faults = createFaultPoints(config.faults.point, log)
  const controllers = new Map<number, Controller>()
  const link = createSecondaryLink({ url: config.database.url, schema: config.applier.schema, session, logger: log })
  const mirror = createMirror({
    config,
    clock,
    link,
    logger: log,
    onSuspend: (reason) => resyncMetrics.suspensions.inc({ reason }),
    onResyncBlocks: (id, blocks) => resyncMetrics.resyncBlocks.inc({ controller: String(id) }, blocks),
  })
  const resyncMetrics = createResyncMetrics(registry, () => mirror.status())
  // one record set must hold the largest write: its framing and the longest volume name come off the bound
  const maxWriteBytes =
    Math.floor((config.mover.maxRecordSetBytes - recordSetBaseBytes(session) - 48 - 255) / blockSize) * blockSize
  const segmentBytes = Math.min(8 << 20, Math.max(64 << 10, Math.floor(settings.sidefileMaxBytes / 8)))
  let state: PrimaryStatus['state'] = 'created'
  let sender: Sender | undefined
  let inflight = 0
  let idle: (() => void) | undefined
  let finish!: (reason: Error | undefined) => void
  const done = new Promise<Error | undefined>((resolve) => (finish = resolve))

  const metrics = createProducerMetrics(registry, {
    controllers: () => [...controllers.values()].map((c) => c.status()),
    kafkaUnreachableSince: () => sender?.unreachableSince(),
  })
  const emit = <K extends keyof PrimaryEvents>(event: K, payload: PrimaryEvents[K]): void => {
    try {
      events.emit(event, payload)
    } catch (err) {
      log.error({ err, event }, 'a primary event listener threw')
    }
  }

  function route(volume: string): Controller {
    const id = owner.get(volume)
    if (id === undefined)
      throw new XrcError('XRC_NOT_FOUND', `volume "${volume}" is not in session ${session}`, {
        context: { session, volume },
      })
    const c = controllers.get(id)
    if (c === undefined)
      throw new XrcError(
        'XRC_NOT_FOUND',
        `volume "${volume}" belongs to controller ${id}, which this process does not run (it runs ${ids.join(', ')})`,
        { context: { session, volume, controller: id } },
      )
    return c
  }

  function checkRunning(): void {
    if (state !== 'running')
      throw new XrcError('XRC_CLOSED', `the primary of session ${session} is ${state}, not taking writes`, {
        context: { session },
      })
  }

  function status(): PrimaryStatus {
    const s = sender?.status()
    const since = s?.kafka.unreachableSince
    return {
      session,
      state,
      topic,
      kafka: {
        state: s?.kafka.state ?? 'connecting',
        ...(since !== undefined ? { unreachableSince: new Date(since).toISOString() } : {}),
        ...(s?.kafka.lastError ? { lastError: s.kafka.lastError } : {}),
      },
      controllers: [...controllers.values()].map((c) => {
        const sent = s?.controllers.find((x) => x.id === c.id)
        return {
          ...c.status(),
          recordSets: sent?.recordSets ?? 0,
          heartbeats: sent?.heartbeats ?? 0,
          ...(sent?.lastHeartbeatTime !== undefined ? { lastHeartbeatTime: sent.lastHeartbeatTime } : {}),
        }
      }),
      mirror: mirror.status(),
    }
  }

  async function closeControllers(): Promise<void> {
    for (const c of controllers.values())
      await c.close().catch((err: unknown) => log.error({ err, controller: c.id }, 'closing a controller failed'))
  }

  return {
    session,
    topic,
    controllerIds: ids,
    registry,
    maxWriteBytes,
    done,

    async start() {
      if (state !== 'created') throw new XrcError('XRC_USAGE', `the primary of session ${session} was already started`)
      state = 'starting'
      try {
        for (const id of ids) {
          const cfg = all.find((c) => c.id === id) as (typeof all)[number]
          const label = { controller: String(id) }
          const c = await mirror.open(id, cfg.volumes, controllerDir(config.session.dataDir, session, id), (hooks) =>
            openController({
              session,
              id,
              volumes: cfg.volumes,
              blockSize,
              dataDir: config.session.dataDir,
              clock,
              sidefile: { maxBytes: settings.sidefileMaxBytes, waitMs: settings.sidefileWaitMs, segmentBytes },
              maxWriteBytes,
              logger: log,
              onFull: (event) => {
                metrics.sidefileFull.inc(label)
                log.warn(event, 'sidefile full for the wait bound')
                emit('sidefile.full', event)
                // before the writer learns: with the session suspended its write goes on, marked
                mirror.sidefileFull()
              },
              onWaited: (ms, outcome) => metrics.sidefileWaitSeconds.observe({ ...label, outcome }, ms / 1000),
              onDurable: () => sender?.wake(id),
              mirror: hooks,
            }),
          )
          controllers.set(id, c)
          clock.advanceTo(c.recoveredTime)
        }
      } catch (err) {
        await mirror.stop()
        await closeControllers()
        await mirror.close()
        controllers.clear()
        await link.close().catch(() => undefined)
        state = 'failed'
        throw err
      }
      const kafka =
        options.kafka ??
        createKafka({
          brokers: config.kafka.brokers,
          clientId: `${config.kafka.clientId}-producer-${session}`,
          logger: log,
        })
      const transport = createKafkaTransport({
        kafka,
        topic,
        partitions: Math.max(...all.map((c) => c.id)) + 1,
        registryUrl: config.schemaRegistry.url,
        maxRecordSetBytes: config.mover.maxRecordSetBytes,
        logger: log,
        ...(options.codec ? { codec: options.codec } : {}),
      })
      sender = createSender({
        session,
        controllers: [...controllers.values()],
        transport,
        lingerMs: settings.lingerMs,
        heartbeatMs: settings.heartbeatMs,
        maxUpdatesPerRecordSet: settings.maxUpdatesPerRecordSet,
        logger: log,
        onSent: (id, rs, bytes) => {
          // Kafka has the record set and the sidefile still holds it: a crash here makes the next start send it again
          if (rs.kind !== 'HEARTBEAT') faults.reach('producer.after-send')
          const label = { controller: String(id) }
          metrics.recordSets.inc({ ...label, kind: rs.kind })
          if (rs.kind === 'HEARTBEAT') metrics.heartbeats.inc(label)
          else metrics.sentUpdates.inc(label, rs.updates.length)
          if (rs.kind === 'RESYNC') {
            resyncMetrics.resyncBytes.inc(label, bytes)
            mirror.resyncRecordSent(bytes)
          }
        },
        onSendError: (id) => metrics.sendErrors.inc({ controller: String(id) }),
        onUnreachable: (since, err) =>
          emit('kafka.unreachable', { since, error: err instanceof Error ? err.message : String(err) }),
        onReachable: (downMs) => emit('kafka.reachable', { downMs }),
        onFatal: (err) => {
          state = 'failed'
          finish(err instanceof Error ? err : new Error(String(err)))
        },
      })
      state = 'running'
      sender.start()
      const started = sender
      mirror.start({
        stalledSince: () => started.stalledSince(),
        probeKafka: () => transport.probe?.() ?? Promise.resolve(),
        retrySends: () => started.retryNow(),
        resetKafka: () => transport.reset?.() ?? Promise.resolve(),
      })
      log.info(
        {
          controllers: ids,
          topic,
          nextSeqs: Object.fromEntries([...controllers.values()].map((c) => [c.id, c.status().nextSeq])),
        },
        'primary started',
      )
    },

    async stop() {
      if (state === 'created' || state === 'stopping' || state === 'stopped') return
      const failed = state === 'failed'
      state = 'stopping'
      if (inflight > 0) await new Promise<void>((resolve) => (idle = resolve))
      await mirror.stop()
      await sender?.stop({ flushTimeoutMs: options.flushTimeoutMs ?? 5000 })
      await closeControllers()
      await mirror.close()
      await link.close().catch((err: unknown) => log.warn({ err }, 'closing the link to the secondary failed'))
      state = failed ? 'failed' : 'stopped'
      const left = [...controllers.values()].map((c) => ({ controller: c.id, entries: c.status().sidefile.entries }))
      log.info({ unsent: left }, 'primary stopped; unsent writes stay in the sidefiles')
      finish(undefined)
    },

    async write({ volume, block, data, after }) {
      checkRunning()
      const c = route(volume)
      const label = { controller: String(c.id) }
      const began = performance.now()
      inflight++
      try {
        const ack = await c.write(volume, block, data, after)
        metrics.writes.inc(label)
        metrics.writeBytes.inc(label, data.length)
        metrics.writeSeconds.observe(label, (performance.now() - began) / 1000)
        return ack
      } catch (err) {
        metrics.writeErrors.inc({ ...label, code: isXrcError(err) ? err.code : 'unexpected' })
        throw err
      } finally {
        if (--inflight === 0) idle?.()
      }
    },

    async read(volume, block, count) {
      checkRunning()
      return route(volume).read(volume, block, count)
    },

    status,

    health() {
      const st = status()
      const kafkaHealth: HealthReport['status'] =
        st.kafka.state === 'connected' ? 'ok' : st.kafka.state === 'connecting' ? 'starting' : 'degraded'
      // suspended or resyncing: writes are taken, the mirror is behind
      const healthState: HealthReport['status'] =
        st.state === 'failed'
          ? 'halted'
          : st.state !== 'running'
            ? 'starting'
            : st.mirror.state !== 'duplex'
              ? 'degraded'
              : kafkaHealth
      return {
        status: healthState,
        session,
        kafka: st.kafka,
        mirror: { state: st.mirror.state, reason: st.mirror.reason },
        controllers: st.controllers.map((c) => ({
          id: c.id,
          nextSeq: c.nextSeq,
          sidefileBytes: c.sidefile.bytes,
          waitingWriters: c.sidefile.waitingWriters,
        })),
      }
    },

    async suspend() {
      checkRunning()
      return mirror.suspend('operator')
    },

    async resume() {
      checkRunning()
      return mirror.resume()
    },

    async rebase() {
      checkRunning()
      return mirror.rebase()
    },

    on(event, listener) {
      events.on(event, listener)
      return () => void events.off(event, listener)
    },
  }
}
