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
 */
import type { OutboundMessage, PartitionBatch } from './kafkaTransport.js'

interface Outgoing {
  id: number
  messages: OutboundMessage[]
  resolve: () => void
  reject: (err: unknown) => void
}

/** Sends one request of several controllers' batches, retrying until it is acknowledged (or throwing Stopped). */
export type SendRequest = (batches: readonly PartitionBatch[], controllers: readonly number[]) => Promise<void>

export class Outbox {
  readonly #send: SendRequest
  readonly #waiting: Outgoing[] = []
  #flushing = false

  constructor(send: SendRequest) {
    this.#send = send
  }

  /** Resolves when Kafka acknowledged controller `id`'s messages; rejects (Stopped) when the sender stopped first. */
  post(id: number, messages: OutboundMessage[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#waiting.push({ id, messages, resolve, reject })
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
        const request = this.#waiting.splice(0)
        try {
          await this.#send(
            request.map((o) => ({ partition: o.id, messages: o.messages })),
            request.map((o) => o.id),
          )
          for (const o of request) o.resolve()
        } catch (err) {
          for (const o of request) o.reject(err)
        }
      }
    } finally {
      this.#flushing = false
    }
  }
}
