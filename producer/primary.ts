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
 * Suspend and resync (producer/mirror/): when Kafka stays out of reach, a
 * sidefile stays full or an operator asks, the primary suspends: writes go
 * on, marked for resync in durable change bitmaps; resume sends the marked
 * blocks as RESYNC records.
 *
 * Parts: `PrimarySite.start` (openControllers, then startSending),
 * `PrimarySite.stop`, `PrimarySite.write` (route to the owning controller,
 * metrics around Controller.write), status and health.
 */
import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'
import type { KafkaClient } from '../lib/kafka/index.js'
import type { Registry } from 'prom-client'
import type { Config } from '../lib/config.js'
import { XrcError, isXrcError } from '../lib/errors.js'
import { createFaultPoints } from '../lib/faultPoints.js'
import { createKafkaClient } from '../lib/kafka/index.js'
import type { KafkaClientName } from '../lib/kafka/client/index.js'
import type { Logger } from '../lib/logger.js'
import { createMetricsRegistry, type HealthReport } from '../lib/metrics.js'
import { waitFor } from '../lib/retry.js'
import { STOPPED, createStageEnding, endOf, settleWithin, type Stage, type StageEnd } from '../lib/stage.js'
import type { AvroCodec } from '../schemas/codec.js'
import type { RecordSet } from '../schemas/recordSet.js'
import { sessionTopics } from '../schemas/topicNames.js'
import { maxWriteBytes } from '../schemas/wireSizes.js'
import {
  controllerDir,
  openController,
  type Controller,
  type ControllerStatus,
  type PrimarySegmentCode,
  type WriteAck,
} from './controller/index.js'
import { createKafkaTransport, type Transport } from './sender/index.js'
import { createMirror, FOLLOWER_CLOSE_MS, type MirrorStatus } from './mirror/index.js'
import { createProducerMetrics } from './producerMetrics.js'
import { createResyncMetrics } from './mirror/index.js'
import { createSender, type KafkaState, type Sender } from './sender/index.js'
import { createSessionClock, type SessionClock } from './sessionClock.js'
import type { SidefileFullEvent } from './sidefile/index.js'

export type { PrimarySegmentCode, WriteAck } from './controller/index.js'

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
  /** `client`: the Kafka client library of the producer (kafka.client). */
  kafka: { state: KafkaState; client: KafkaClientName; unreachableSince?: string; lastError?: string }
  controllers: (ControllerStatus & { recordSets: number; heartbeats: number; lastHeartbeatTime?: number })[]
  /** Suspend and resync: duplex, suspended or resyncing, with the resync's progress and the change bitmaps' counts. */
  mirror: MirrorStatus
}

export interface PrimaryOptions {
  config: Config
  logger: Logger
  /** Controllers run by this process (default: every controller of the session). */
  controllerIds?: readonly number[]
  /**
   * Defaults: a client of config.kafka on kafka.client, a registry
   * labelled {service: producer, session}, the wall-clock session clock.
   * The producer runs on kafka.client whichever client is given.
   */
  kafka?: KafkaClient
  registry?: Registry
  clock?: SessionClock
  /** A ready RecordSet codec; registered from config.schemaRegistry otherwise. */
  codec?: AvroCodec<RecordSet>
  /** Bound on stop()'s flush. Default 5000 ms. */
  flushTimeoutMs?: number
}

/** How long stop() waits for the Kafka producer to close after the flush. */
const KAFKA_CLOSE_MS = 3000

/**
 * The primary as a pipeline stage (lib/stage.ts). stop() refuses new writes,
 * lets those in progress finish, sends what it can within flushTimeoutMs and
 * leaves the rest in the sidefiles, sent on the next start. `done` reports
 * 'halted' (or 'failed') when the sender meets an error it cannot retry.
 */
export interface Primary extends Stage<PrimaryStatus> {
  readonly name: 'primary'
  readonly session: string
  readonly topic: string
  readonly controllerIds: readonly number[]
  readonly registry: Registry
  /** Largest data of one write, bytes (whole blocks that fit one record set). */
  readonly maxWriteBytes: number
  /** Bytes per block (session.blockSize). */
  readonly blockSize: number
  /**
   * Writes whole blocks through the owning controller; resolves once the
   * write is durable in the sidefile and on the volume. Errors (XrcError):
   * XRC_NOT_FOUND (no such volume, or its controller runs elsewhere),
   * XRC_INVALID_RECORD, XRC_RECORD_TOO_LARGE, XRC_SIDEFILE_FULL, XRC_CLOSED.
   */
  write(request: WriteRequest): Promise<WriteAck>
  /** Reads `count` blocks from the primary volume. */
  read(volume: string, block: number, count: number): Promise<Buffer>
  /**
   * The codes of `count` segments of a volume from segment `from` (clipped to
   * the volume), each with the time of its last write (controller/segmentCodes.ts).
   */
  segmentCodes(volume: string, from: number, count: number): Promise<PrimarySegmentCode[]>
  /** The segment size of the codes and the session's volumes (all controllers'). */
  readonly segmentLayout: { segmentBlocks: number; volumes: readonly { name: string; blocks: number }[] }
  status(): PrimaryStatus
  health(): HealthReport
  /** Suspends the session (operator): writes go on, marked for resync; no automatic resume. */
  suspend(): Promise<MirrorStatus>
  /**
   * Resumes: the marked blocks are resynced. Throws XRC_SIDEFILE_FULL
   * when a sidefile has no room for the resync window's begin.
   */
  resume(): Promise<MirrorStatus>
  /**
   * After a lost journal or updates topic: suspends and marks every
   * block not confirmed applied on the secondary (see producer/mirror/).
   */
  rebase(): Promise<{ blocks: number; volumeBlocks: number }>
  /**
   * Quiesces host writes (a failback's swap of roles): new writes are refused
   * (XRC_CLOSED, reason quiesced: certainly not taken), those in progress
   * finish; resolves with the latest session time once none is in progress,
   * so every write this primary acknowledged has a time at or below it.
   * Sending, heartbeats and reads go on. Safe to call again.
   */
  quiesce(): Promise<{ time: number }>
  /** Takes host writes again after quiesce(). */
  unquiesce(): void
  /** Whether host writes are quiesced. */
  readonly quiesced: boolean
  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof PrimaryEvents>(event: K, listener: (payload: PrimaryEvents[K]) => void): () => void
}

export function createPrimary(options: PrimaryOptions): Primary {
  return new PrimarySite(options)
}

type SessionControllers = Config['session']['controllers']

class PrimarySite implements Primary {
  readonly session: string
  readonly topic: string
  readonly controllerIds: readonly number[]
  readonly registry: Registry
  readonly maxWriteBytes: number
  readonly blockSize: number
  readonly segmentLayout: Primary['segmentLayout']
  readonly name = 'primary'
  readonly stopBoundMs: number
  readonly #options: PrimaryOptions
  readonly #config: Config
  readonly #log: Logger
  readonly #all: SessionControllers
  /** Volume name -> id of its controller. */
  readonly #owner: Map<string, number>
  readonly #clock: SessionClock
  readonly #events = new EventEmitter()
  readonly #faults: ReturnType<typeof createFaultPoints>
  readonly #controllers = new Map<number, Controller>()
  readonly #mirror: ReturnType<typeof createMirror>
  readonly #resyncMetrics: ReturnType<typeof createResyncMetrics>
  readonly #metrics: ReturnType<typeof createProducerMetrics>
  readonly #segmentBytes: number
  #state: PrimaryStatus['state'] = 'created'
  #sender: Sender | undefined
  #inflight = 0
  #idle: (() => void) | undefined
  /** Waiters of quiesce() for the writes in progress to finish. */
  #drained: (() => void)[] = []
  #quiesced = false
  readonly #ending = createStageEnding()
  readonly #flushTimeoutMs: number
  #stopped: Promise<void> | undefined

  constructor(options: PrimaryOptions) {
    const { config } = options
    this.#options = options
    this.#config = config
    const session = (this.session = config.session.name)
    this.#log = options.logger.child({ component: 'primary', session })
    this.#all = config.session.controllers
    this.controllerIds = options.controllerIds ?? this.#all.map((c) => c.id)
    this.#checkControllerIds()
    this.#owner = new Map(this.#all.flatMap((c) => c.volumes.map((v) => [v.name, c.id] as const)))
    this.topic = sessionTopics(session).updates
    this.#clock = options.clock ?? createSessionClock()
    this.registry = options.registry ?? createMetricsRegistry({ service: 'producer', session })
    this.#faults = createFaultPoints(config.faults.point, this.#log)
    const log = this.#log
    // the primary reaches only Kafka: what it tells the secondary
    // goes in the stream, what it hears comes from the applied topic
    this.#mirror = createMirror({
      config,
      clock: this.#clock,
      logger: log,
      onSuspend: (reason) => this.#resyncMetrics.suspensions.inc({ reason }),
      onResyncBlocks: (id, blocks) => this.#resyncMetrics.resyncBlocks.inc({ controller: String(id) }, blocks),
    })
    this.#resyncMetrics = createResyncMetrics(this.registry, () => this.#mirror.status())
    // one record set must hold the largest write (schemas/wireSizes.ts)
    this.maxWriteBytes = maxWriteBytes(config.mover.maxRecordSetBytes, session, config.session.blockSize)
    this.blockSize = config.session.blockSize
    this.segmentLayout = {
      segmentBlocks: config.session.segmentBlocks,
      volumes: config.session.controllers.flatMap((c) => c.volumes),
    }
    const sidefileMaxBytes = config.producer.sidefileMaxBytes
    this.#segmentBytes = Math.min(8 << 20, Math.max(64 << 10, Math.floor(sidefileMaxBytes / 8)))
    this.#flushTimeoutMs = options.flushTimeoutMs ?? 5000
    // a write in progress waits for its sidefile at most sidefileWaitMs, then the flush, the producer, the files
    this.stopBoundMs = config.producer.sidefileWaitMs + this.#flushTimeoutMs + KAFKA_CLOSE_MS + FOLLOWER_CLOSE_MS + 3000
    this.#metrics = createProducerMetrics(this.registry, {
      controllers: () => [...this.#controllers.values()].map((c) => c.status()),
      kafkaUnreachableSince: () => this.#sender?.unreachableSince(),
    })
  }

  async start(): Promise<void> {
    if (this.#state !== 'created')
      throw new XrcError('XRC_USAGE', {
        reason: 'alreadyStarted',
        component: `the primary of session ${this.session}`,
        state: 'started',
      })
    this.#state = 'starting'
    try {
      for (const id of this.controllerIds) {
        const c = await this.#openController(id)
        this.#controllers.set(id, c)
        this.#clock.advanceTo(c.recoveredTime)
      }
    } catch (err) {
      await this.#mirror.stop()
      await this.#closeControllers()
      await this.#mirror.close()
      this.#controllers.clear()
      this.#state = 'failed'
      this.#ending.end(endOf(err))
      throw err
    }
    this.#startSending()
    this.#log.info(
      {
        controllers: this.controllerIds,
        topic: this.topic,
        nextSeqs: Object.fromEntries([...this.#controllers.values()].map((c) => [c.id, c.status().nextSeq])),
      },
      'primary started',
    )
  }

  get done(): Promise<StageEnd> {
    return this.#ending.done
  }

  async stop(): Promise<void> {
    if (this.#state === 'created') {
      this.#state = 'stopped'
      this.#ending.end(STOPPED)
    }
    // start() opens the controllers first: let it finish, then undo it
    if (this.#state === 'starting')
      await waitFor('the primary to finish starting', () => (this.#state !== 'starting' ? true : undefined), {
        timeoutMs: 60_000,
        intervalMs: 20,
      }).catch(() => undefined)
    // a failed start() released everything already
    if (this.#state === 'stopped' || (this.#state === 'failed' && this.#sender === undefined)) return
    this.#stopped ??= this.#stopOnce()
    return this.#stopped
  }

  async #stopOnce(): Promise<void> {
    const failed = this.#state === 'failed'
    this.#state = 'stopping'
    if (this.#inflight > 0) await new Promise<void>((resolve) => (this.#idle = resolve))
    await this.#mirror.stop()
    // the flush is bounded by the sender; closing its Kafka producer waits for requests in flight, which a
    // broker that answers nothing holds for kafkajs's request timeout: the client is left to close by itself
    const flushTimeoutMs = this.#flushTimeoutMs
    if (!(await settleWithin(this.#sender?.stop({ flushTimeoutMs }), flushTimeoutMs + KAFKA_CLOSE_MS)))
      this.#log.warn({ waitedMs: KAFKA_CLOSE_MS }, 'the Kafka producer did not close in time; left to close by itself')
    await this.#closeControllers()
    await this.#mirror.close()
    this.#state = failed ? 'failed' : 'stopped'
    const left = [...this.#controllers.values()].map((c) => ({
      controller: c.id,
      entries: c.status().sidefile.entries,
    }))
    this.#log.info({ unsent: left }, 'primary stopped; unsent writes stay in the sidefiles')
    this.#ending.end(STOPPED)
  }

  get quiesced(): boolean {
    return this.#quiesced
  }

  async quiesce(): Promise<{ time: number }> {
    this.#checkRunning()
    if (!this.#quiesced) this.#log.info('host writes quiesced')
    this.#quiesced = true
    if (this.#inflight > 0) await new Promise<void>((resolve) => this.#drained.push(resolve))
    return { time: this.#clock.last() }
  }

  unquiesce(): void {
    if (this.#quiesced) this.#log.info('host writes taken again')
    this.#quiesced = false
  }

  async write({ volume, block, data, after }: WriteRequest): Promise<WriteAck> {
    this.#checkRunning()
    if (this.#quiesced) throw new XrcError('XRC_CLOSED', { reason: 'quiesced', session: this.session })
    const c = this.#route(volume)
    const label = { controller: String(c.id) }
    const metrics = this.#metrics
    const began = performance.now()
    this.#inflight++
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
      if (--this.#inflight === 0) {
        this.#idle?.()
        for (const drained of this.#drained.splice(0)) drained()
      }
    }
  }

  async read(volume: string, block: number, count: number): Promise<Buffer> {
    this.#checkRunning()
    return this.#route(volume).read(volume, block, count)
  }

  async segmentCodes(volume: string, from: number, count: number): Promise<PrimarySegmentCode[]> {
    this.#checkRunning()
    return this.#route(volume).segmentCodes(volume, { from, count })
  }

  status(): PrimaryStatus {
    const s = this.#sender?.status()
    const since = s?.kafka.unreachableSince
    return {
      session: this.session,
      state: this.#state,
      topic: this.topic,
      kafka: {
        state: s?.kafka.state ?? 'connecting',
        client: this.#options.config.kafka.client,
        ...(since !== undefined ? { unreachableSince: new Date(since).toISOString() } : {}),
        ...(s?.kafka.lastError ? { lastError: s.kafka.lastError } : {}),
      },
      controllers: [...this.#controllers.values()].map((c) => {
        const sent = s?.controllers.find((x) => x.id === c.id)
        return {
          ...c.status(),
          recordSets: sent?.recordSets ?? 0,
          heartbeats: sent?.heartbeats ?? 0,
          ...(sent?.lastHeartbeatTime !== undefined ? { lastHeartbeatTime: sent.lastHeartbeatTime } : {}),
        }
      }),
      mirror: this.#mirror.status(),
    }
  }

  health(): HealthReport {
    const st = this.status()
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
      session: this.session,
      kafka: st.kafka,
      mirror: { state: st.mirror.state, reason: st.mirror.reason },
      controllers: st.controllers.map((c) => ({
        id: c.id,
        nextSeq: c.nextSeq,
        sidefileBytes: c.sidefile.bytes,
        waitingWriters: c.sidefile.waitingWriters,
      })),
    }
  }

  async suspend(): Promise<MirrorStatus> {
    this.#checkRunning()
    return this.#mirror.suspend('operator')
  }

  async resume(): Promise<MirrorStatus> {
    this.#checkRunning()
    return this.#mirror.resume()
  }

  async rebase(): Promise<{ blocks: number; volumeBlocks: number }> {
    this.#checkRunning()
    return this.#mirror.rebase()
  }

  on<K extends keyof PrimaryEvents>(event: K, listener: (payload: PrimaryEvents[K]) => void): () => void {
    this.#events.on(event, listener)
    return () => void this.#events.off(event, listener)
  }

  /** Opens controller `id` under the mirror (recovery: sidefile redo, seqs continue), wired to metrics and events. */
  #openController(id: number): Promise<Controller> {
    const config = this.#config
    const settings = config.producer
    const cfg = this.#all.find((c) => c.id === id) as SessionControllers[number]
    const label = { controller: String(id) }
    const dir = controllerDir(config.session.dataDir, this.session, id)
    return this.#mirror.open(id, cfg.volumes, dir, (hooks) =>
      openController({
        session: this.session,
        id,
        volumes: cfg.volumes,
        blockSize: config.session.blockSize,
        segmentBlocks: config.session.segmentBlocks,
        dataDir: config.session.dataDir,
        clock: this.#clock,
        sidefile: {
          maxBytes: settings.sidefileMaxBytes,
          waitMs: settings.sidefileWaitMs,
          segmentBytes: this.#segmentBytes,
        },
        maxWriteBytes: this.maxWriteBytes,
        logger: this.#log,
        onFull: (event) => {
          this.#metrics.sidefileFull.inc(label)
          this.#log.warn(event, 'sidefile full for the wait bound')
          this.#emit('sidefile.full', event)
          // before the writer learns: with the session suspended its write goes on, marked
          this.#mirror.sidefileFull()
        },
        onWaited: (ms, outcome) => this.#metrics.sidefileWaitSeconds.observe({ ...label, outcome }, ms / 1000),
        onDurable: () => this.#sender?.wake(id),
        mirror: hooks,
      }),
    )
  }

  /** Creates the transport and the sender, starts sending in the background and hands the mirror its Kafka hooks. */
  #startSending(): void {
    const { transport, kafka } = this.#createTransport()
    const settings = this.#config.producer
    const metrics = this.#metrics
    const sender = createSender({
      session: this.session,
      controllers: [...this.#controllers.values()],
      transport,
      lingerMs: settings.lingerMs,
      heartbeatMs: settings.heartbeatMs,
      maxUpdatesPerRecordSet: settings.maxUpdatesPerRecordSet,
      logger: this.#log,
      onSent: (id, rs, bytes) => this.#sent(id, rs, bytes),
      onSendError: (id) => metrics.sendErrors.inc({ controller: String(id) }),
      onUnreachable: (since, err) =>
        this.#emit('kafka.unreachable', { since, error: err instanceof Error ? err.message : String(err) }),
      onReachable: (downMs) => this.#emit('kafka.reachable', { downMs }),
      onFatal: (err) => {
        this.#state = 'failed'
        this.#ending.end(endOf(err))
      },
    })
    this.#sender = sender
    this.#state = 'running'
    sender.start()
    this.#mirror.start({
      stalledSince: () => sender.stalledSince(),
      probeKafka: () => transport.probe?.() ?? Promise.resolve(),
      retrySends: () => sender.retryNow(),
      resetKafka: () => transport.reset?.() ?? Promise.resolve(),
      kafka,
    })
  }

  #createTransport(): { transport: Transport; kafka: KafkaClient } {
    const { config, codec } = this.#options
    const clientId = `${config.kafka.clientId}-producer-${this.session}`
    const kafka =
      this.#options.kafka ??
      createKafkaClient({ connection: config.kafka, library: config.kafka.client, clientId, logger: this.#log })
    const transport = createKafkaTransport({
      kafka,
      client: config.kafka.client,
      clientId,
      connection: config.kafka,
      topic: this.topic,
      partitions: Math.max(...this.#all.map((c) => c.id)) + 1,
      registry: config.schemaRegistry,
      maxRecordSetBytes: config.mover.maxRecordSetBytes,
      replication: config.topics,
      logger: this.#log,
      ...(codec ? { codec } : {}),
    })
    return { transport, kafka }
  }

  /** Kafka acknowledged a record set: metrics, the resync's progress, and the after-send fault point. */
  #sent(id: number, rs: RecordSet, bytes: number): void {
    // Kafka has the record set and the sidefile still holds it: a crash here makes the next start send it again
    if (rs.kind !== 'HEARTBEAT') this.#faults.reach('producer.after-send')
    const label = { controller: String(id) }
    const metrics = this.#metrics
    metrics.recordSets.inc({ ...label, kind: rs.kind })
    if (rs.kind === 'HEARTBEAT') metrics.heartbeats.inc(label)
    else metrics.sentUpdates.inc(label, rs.updates.length)
    if (rs.kind === 'RESYNC') {
      this.#resyncMetrics.resyncBytes.inc(label, bytes)
      this.#mirror.resyncRecordSent(bytes)
    }
  }

  #checkControllerIds(): void {
    const all = this.#all
    for (const id of this.controllerIds) {
      if (!all.some((c) => c.id === id))
        throw new XrcError('XRC_CONFIG_INVALID', {
          reason: 'controllerNotInSession',
          controller: id,
          session: this.session,
          controllers: all.map((c) => c.id),
          setting: 'session.controllers',
        })
    }
  }

  #route(volume: string): Controller {
    const id = this.#owner.get(volume)
    const session = this.session
    if (id === undefined) throw new XrcError('XRC_NOT_FOUND', { reason: 'volume', volume, session })
    const c = this.#controllers.get(id)
    if (c === undefined)
      throw new XrcError('XRC_NOT_FOUND', {
        reason: 'volumeElsewhere',
        volume,
        controller: id,
        controllers: this.controllerIds,
        session,
      })
    return c
  }

  #checkRunning(): void {
    if (this.#state !== 'running')
      throw new XrcError('XRC_CLOSED', { reason: 'notTakingWrites', session: this.session, state: this.#state })
  }

  #emit<K extends keyof PrimaryEvents>(event: K, payload: PrimaryEvents[K]): void {
    try {
      this.#events.emit(event, payload)
    } catch (err) {
      this.#log.error({ err, event }, 'a primary event listener threw')
    }
  }

  async #closeControllers(): Promise<void> {
    for (const c of this.#controllers.values())
      await c.close().catch((err: unknown) => this.#log.error({ err, controller: c.id }, 'closing a controller failed'))
  }
}
