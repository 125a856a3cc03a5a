/**
 * The sender: per controller, moves durable sidefile entries to the
 * controller's partition of the updates topic as record sets, trims the
 * sidefile once Kafka acknowledged them, and sends heartbeats when the
 * controller is idle. Its parts: a ControllerSender per controller
 * (controllerSender.ts: linger, cut, send, acknowledge; heartbeats), the
 * Outbox the controller senders share produce requests through (outbox.ts), and the
 * KafkaLink and SendRetry (kafkaLink.ts: reachability, retry with backoff).
 *
 * - Only durable entries are read (the sidefile's durable end), so a seq
 *   that reached Kafka can never be reused by a crash for other data.
 * - One send in flight per controller, and after a failure the same record
 *   sets are sent again before anything later: per-partition order holds.
 *   The controllers' sends share produce requests (the outbox below).
 * - Nothing is dropped: a failed send is retried with backoff and jitter
 *   until it succeeds or the sender stops; memory stays bounded because the
 *   backlog lives in the sidefile, not here. The first failure of a streak
 *   sets `unreachableSince` (status, metrics; the suspend issue's trigger).
 * - A heartbeat is sent when a controller has had nothing to send for
 *   heartbeatMs and every seq it issued is acknowledged; its time is a tick
 *   taken synchronously with that check (Controller.takeHeartbeat), so every
 *   later write is later, and it goes out only once the controller's durable
 *   time ceiling covers it. Such a heartbeat of every idle controller also
 *   rides along with each request that carries writes (outbox.ts), so the
 *   consistency time reaches a write without waiting for heartbeatMs.
 * - On start the whole remaining sidefile is sent (again): the mover drops
 *   duplicates by (controller, seq).
 */
import { XrcError } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import type { RecordSet } from '../../schemas/recordSet.js'
import { ControllerSender, type ControllerSendStatus, type SenderController } from './controllerSender.js'
import { KafkaLink, SendRetry, Stopped, type KafkaState } from './kafkaLink.js'
import type { Transport } from './kafkaTransport.js'
import { Outbox, type Rider } from './outbox.js'

export type { KafkaState } from './kafkaLink.js'
export type { SenderController } from './controllerSender.js'

export interface SenderOptions {
  session: string
  controllers: readonly SenderController[]
  transport: Transport
  lingerMs: number
  heartbeatMs: number
  maxUpdatesPerRecordSet: number
  logger: Logger
  /** Backoff of a failing send (equal jitter). Default 100 ms doubling to 5 s. */
  backoff?: { initialMs: number; maxMs: number }
  /** Kafka acknowledged a record set; `bytes` is its record as sent (value, key and headers). */
  onSent?: (controller: number, rs: RecordSet, bytes: number) => void
  onSendError?: (controller: number, err: unknown) => void
  /** A failure streak began (Kafka or the registry out of reach) and ended: the suspend issue's trigger. */
  onUnreachable?: (since: number, err: unknown) => void
  onReachable?: (downMs: number) => void
  /** The sender cannot go on (a setting Kafka refuses, a bug): the primary ends with this error. */
  onFatal?: (err: unknown) => void
}

export interface SenderStatus {
  kafka: { state: KafkaState; unreachableSince?: number; lastError?: string }
  controllers: ControllerSendStatus[]
}

export interface Sender {
  start(): void
  /** New durable entries on controller `id`. */
  wake(id: number): void
  /** Sends what is durable (at most `flushTimeoutMs`), then stops; the rest stays in the sidefiles. */
  stop(options?: { flushTimeoutMs?: number }): Promise<void>
  status(): SenderStatus
  unreachableSince(): number | undefined
  /**
   * When the oldest send not yet acknowledged began (ms since the epoch),
   * failing or still waiting: a broker that stopped answering without
   * closing connections shows here before any send fails.
   */
  stalledSince(): number | undefined
  /** Ends the backoff of failing sends now (Kafka answered again): they are retried at once. */
  retryNow(): void
}

export function createSender(options: SenderOptions): Sender {
  return new KafkaSender(options)
}

class KafkaSender implements Sender {
  readonly #options: SenderOptions
  readonly #log: Logger
  readonly #abort = new AbortController()
  readonly #link: KafkaLink
  readonly #retry: SendRetry
  readonly #perController: Map<number, ControllerSender>
  #draining = false
  #loops: Promise<void> | undefined

  constructor(options: SenderOptions) {
    this.#options = options
    this.#log = options.logger.child({ component: 'sender' })
    this.#link = new KafkaLink(this.#log, options)
    this.#retry = new SendRetry({
      link: this.#link,
      backoff: options.backoff ?? { initialMs: 100, maxMs: 5000 },
      signal: this.#abort.signal,
      ...(options.onSendError ? { onSendError: options.onSendError } : {}),
    })
    const { transport } = options
    // throws Stopped when the sender stops first: an abandoned send is never taken for an acknowledged one
    const outbox = new Outbox(
      (batches, ids) => this.#retry.run(() => transport.send(batches), ids),
      (busy) => this.#riders(busy),
    )
    const settings = {
      session: options.session,
      transport,
      outbox,
      lingerMs: options.lingerMs,
      heartbeatMs: options.heartbeatMs,
      maxUpdatesPerRecordSet: options.maxUpdatesPerRecordSet,
      signal: this.#abort.signal,
      draining: () => this.#draining,
      ...(options.onSent ? { onSent: options.onSent } : {}),
    }
    this.#perController = new Map(options.controllers.map((c) => [c.id, new ControllerSender(c, settings)]))
  }

  start(): void {
    if (this.#loops !== undefined)
      throw new XrcError('XRC_USAGE', { reason: 'alreadyStarted', component: 'sender', state: 'started' })
    this.#loops = this.#run()
  }

  wake(id: number): void {
    this.#perController.get(id)?.wake()
  }

  async stop(stopOptions: { flushTimeoutMs?: number } = {}): Promise<void> {
    const loops = this.#loops
    if (loops === undefined || this.#abort.signal.aborted) return
    this.#draining = true
    for (const s of this.#perController.values()) s.wake()
    const timeout = stopOptions.flushTimeoutMs ?? 5000
    let timer: NodeJS.Timeout | undefined
    await Promise.race([loops, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeout)))])
    clearTimeout(timer)
    this.#abort.abort()
    await loops
    if (this.#link.state !== 'failed') this.#link.state = 'stopped'
    await this.#options.transport
      .close()
      .catch((err: unknown) => this.#log.warn({ err }, 'closing the Kafka producer failed'))
  }

  status(): SenderStatus {
    const { state, unreachableSince, lastError } = this.#link
    return {
      kafka: {
        state,
        ...(unreachableSince !== undefined ? { unreachableSince } : {}),
        ...(lastError !== undefined ? { lastError } : {}),
      },
      controllers: [...this.#perController.values()].map((s) => ({ ...s.status })),
    }
  }

  unreachableSince(): number | undefined {
    return this.#link.unreachableSince
  }

  retryNow(): void {
    this.#retry.retryNow()
  }

  stalledSince(): number | undefined {
    let oldest = this.#link.unreachableSince
    for (const { sendingSince: since } of this.#perController.values())
      if (since !== undefined && (oldest === undefined || since < oldest)) oldest = since
    return oldest
  }

  /** Opens the transport (retrying while Kafka is out of reach), then runs every controller's stream. */
  async #run(): Promise<void> {
    let maxBatchBytes: number
    try {
      maxBatchBytes = (await this.#retry.run(() => this.#options.transport.open())).maxBatchBytes
    } catch (err) {
      this.#fatal(err)
      return
    }
    // settled, not all(): stop() must find every loop finished before the sidefiles close
    await Promise.allSettled(
      [...this.#perController.values()].map((s) => s.run(maxBatchBytes).catch((err) => this.#fatal(err))),
    )
  }

  /** A heartbeat of each idle controller not in `busy`, to ride along with a request that carries writes. */
  async #riders(busy: ReadonlySet<number>): Promise<Rider[]> {
    const idle = [...this.#perController.values()].filter((s) => !busy.has(s.status.id))
    const riders = await Promise.all(idle.map((s) => s.ride()))
    return riders.filter((r): r is Rider => r !== undefined)
  }

  #fatal(err: unknown): void {
    if (err instanceof Stopped) return
    this.#link.fatal(err)
    this.#log.error({ err }, 'sender stopped on an error it cannot retry')
    this.#options.onFatal?.(err)
  }
}
