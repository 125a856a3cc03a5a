/**
 * The outbox: what the controllers have ready goes to Kafka in one produce
 * request for all of them. While a request is in flight (or being retried)
 * the controllers' next record sets gather here and go together in the
 * next one, so the requests per second stay few however many controllers
 * there are: each request costs CPU in this process, the broker and the
 * mover, whatever it carries (BENCHMARKS.md). A controller has at most one
 * entry here and waits for it, so its record sets still reach its
 * partition in order, and a failed request is sent again, unchanged,
 * before anything that gathered meanwhile.
 *
 * Heartbeats ride along: a request that carries writes also carries a
 * heartbeat of every controller idle at that moment (`riders`,
 * ControllerSender.ride), so the consistency time covers a write as soon as
 * its request is acknowledged instead of when the idle controllers' next
 * heartbeats fall due (up to producer.heartbeatMs later).
 */
import type { OutboundMessage, PartitionBatch } from './kafkaTransport.js'

interface Outgoing {
  id: number
  messages: OutboundMessage[]
  /** Whether the messages hold writes (heartbeats do not call riders). */
  writes: boolean
  resolve: () => void
  reject: (err: unknown) => void
}

/** An idle controller's heartbeat riding along with a request; told how the request ended. */
export interface Rider {
  id: number
  messages: OutboundMessage[]
  acknowledged(): void
  failed(): void
}

/** The riders for a request that holds controllers `busy`: a heartbeat of each idle controller outside it. */
export type Riders = (busy: ReadonlySet<number>) => Promise<readonly Rider[]>

/** Sends one request of several controllers' batches, retrying until it is acknowledged (or throwing Stopped). */
export type SendRequest = (batches: readonly PartitionBatch[], controllers: readonly number[]) => Promise<void>

export class Outbox {
  readonly #send: SendRequest
  readonly #riders: Riders | undefined
  readonly #waiting: Outgoing[] = []
  #flushing = false

  constructor(send: SendRequest, riders?: Riders) {
    this.#send = send
    this.#riders = riders
  }

  /**
   * Resolves when Kafka acknowledged controller `id`'s messages; rejects (Stopped) when the sender stopped first.
   * `writes`: they hold writes (not only a heartbeat), so idle controllers' heartbeats ride along.
   */
  post(id: number, messages: OutboundMessage[], writes = true): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#waiting.push({ id, messages, writes, resolve, reject })
      if (!this.#flushing) {
        // after this turn of the event loop: the controllers whose timers fired with this one join the request
        this.#flushing = true
        setImmediate(() => void this.#flush())
      }
    })
  }

  /** Sends the outbox until it is empty; `#flushing` was set when it was scheduled. */
  async #flush(): Promise<void> {
    try {
      while (this.#waiting.length > 0) {
        const request: (Outgoing | Rider)[] = this.#waiting.splice(0)
        const riders = await this.#ridersFor(request as Outgoing[])
        request.push(...riders)
        try {
          await this.#send(
            request.map((o) => ({ partition: o.id, messages: o.messages })),
            request.map((o) => o.id),
          )
          for (const o of request) {
            if ('resolve' in o) o.resolve()
            else o.acknowledged()
          }
        } catch (err) {
          for (const o of request) {
            if ('reject' in o) o.reject(err)
            else o.failed()
          }
        }
      }
    } finally {
      this.#flushing = false
    }
  }

  /** The heartbeats that ride along with `request`: none when it holds no write. */
  async #ridersFor(request: readonly Outgoing[]): Promise<readonly Rider[]> {
    if (this.#riders === undefined || !request.some((o) => o.writes)) return []
    // a rider is a bonus: whatever goes wrong finding one, the request goes without it
    return this.#riders(new Set(request.map((o) => o.id))).catch(() => [])
  }
}
