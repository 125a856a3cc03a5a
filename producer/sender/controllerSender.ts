/**
 * One controller's stream to its partition: reads durable sidefile entries,
 * lingers for a fuller record set, cuts record sets, posts them to the
 * outbox and waits for Kafka's acknowledgement before trimming and reading
 * on (`ControllerSender.sendUpdates`); sends a heartbeat when idle
 * (`ControllerSender.idle`), or sooner, riding along with another
 * controller's request (`ControllerSender.ride`, outbox.ts). One send in
 * flight per controller, so its record sets reach its partition in seq
 * order.
 */
import type { RecordSet } from '../../schemas/recordSet.js'
import type { Controller } from '../controller/index.js'
import type { OutboundMessage, Transport } from './kafkaTransport.js'
import type { Outbox, Rider } from './outbox.js'
import { kafkaRecordOverheadBytes } from '../../schemas/wireSizes.js'
import { recordSetHeaders } from '../../schemas/recordSet.js'
import { cutStream, heartbeatRecordSet, lastSeqOf, type Cut } from './recordSets.js'

export type SenderController = Pick<Controller, 'id' | 'readPending' | 'acknowledge' | 'takeHeartbeat' | 'coverTime'>
/** Durable entries a controller has not had acknowledged yet. */
type PendingUpdates = Awaited<ReturnType<SenderController['readPending']>>

/** What the sender reports per controller. */
export interface ControllerSendStatus {
  id: number
  lastHeartbeatTime?: number
  recordSets: number
  heartbeats: number
  lastSendAt?: number
}

/** What the controller senders of one sender share. */
export interface ControllerSenderSettings {
  session: string
  transport: Pick<Transport, 'encode'>
  outbox: Outbox
  lingerMs: number
  heartbeatMs: number
  maxUpdatesPerRecordSet: number
  /** Aborted when the sender stops. */
  signal: AbortSignal
  /** True once stop() began: send what is durable without lingering, then end. */
  draining: () => boolean
  /** Kafka acknowledged a record set; `bytes` is its record as sent (value, key and headers). */
  onSent?: (controller: number, rs: RecordSet, bytes: number) => void
}

/** A wake-up flag a loop can wait on with a timeout; a notify while nobody waits is kept for the next wait. */
class Signal {
  private pending = false
  private waiter: (() => void) | undefined
  notify(): void {
    const w = this.waiter
    if (w === undefined) this.pending = true
    else w()
  }
  wait(ms: number): Promise<void> {
    if (this.pending) {
      this.pending = false
      return Promise.resolve()
    }
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        this.waiter = undefined
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.waiter = done
    })
  }
}

export class ControllerSender {
  readonly status: ControllerSendStatus
  /** When the current send began (undefined once Kafka acknowledged it). */
  sendingSince: number | undefined
  readonly #c: SenderController
  readonly #s: ControllerSenderSettings
  readonly #wakeup = new Signal()
  #cursor: number | undefined // undefined: the sidefile's start, so a restart sends everything held
  #lastSend = Date.now()
  #lingerFrom: number | undefined
  /** Waiting in idle() for a heartbeat to fall due: nothing of this controller is being sent. */
  #idling = false
  /** A heartbeat of this controller rides along with a request in flight. */
  #riding = false

  constructor(controller: SenderController, settings: ControllerSenderSettings) {
    this.#c = controller
    this.#s = settings
    this.status = { id: controller.id, recordSets: 0, heartbeats: 0 }
  }

  /** New durable entries (or stop): the loop looks again now. */
  wake(): void {
    this.#wakeup.notify()
  }

  /** The loop, until the sender stops (or, draining, until nothing durable is left). */
  async run(maxBatchBytes: number): Promise<void> {
    const s = this.#s
    for (;;) {
      if (s.signal.aborted) return
      const pending = await this.#c.readPending(this.#cursor, {
        maxEntries: s.maxUpdatesPerRecordSet * 16,
        maxBytes: maxBatchBytes,
      })
      if (pending.length > 0) {
        const linger = this.#lingerLeft(pending.length)
        if (linger > 0) await this.#wakeup.wait(linger)
        else await this.sendUpdates(pending, maxBatchBytes)
        continue
      }
      if (s.draining()) return
      await this.idle()
    }
  }

  /** Sends one Kafka batch of whole record sets cut from `pending` (at least one), then trims what Kafka has. */
  async sendUpdates(pending: PendingUpdates, maxBatchBytes: number): Promise<void> {
    // a resync window event in the sidefile goes as a heartbeat that carries it, in its place (cutStream)
    const cuts = cutStream(this.#s.session, this.#c.id, pending, {
      maxUpdates: this.#s.maxUpdatesPerRecordSet,
      maxBytes: maxBatchBytes,
    })
    const batch = firstBatch(cuts, maxBatchBytes, (cut) =>
      kafkaRecordOverheadBytes(String(this.#c.id), recordSetHeaders(cut.recordSet)),
    )
    await this.#send(batch.map((x) => x.recordSet))
    const last = (batch.at(-1) as (typeof cuts)[number]).last
    await this.#c.acknowledge(last.end, lastSeqOf(last))
    this.#cursor = last.end
    this.status.recordSets += batch.length
    this.#lastSend = Date.now()
  }

  /** Nothing to send: waits until a heartbeat falls due, then sends one if every seq is acknowledged. */
  async idle(): Promise<void> {
    const { heartbeatMs, session } = this.#s
    // on a grid shared by the controllers (the last multiple of heartbeatMs at most heartbeatMs after the last send),
    // so that idle controllers' heartbeats fall due together and share a request
    const due = Math.floor((this.#lastSend + heartbeatMs) / heartbeatMs) * heartbeatMs - Date.now()
    if (due > 0 || this.#riding) return this.#idle(this.#riding ? heartbeatMs : due)
    const hb = this.#c.takeHeartbeat()
    // writes have seqs but are not durable yet: the durable signal comes soon
    if (hb === undefined) return this.#wakeup.wait(heartbeatMs)
    await this.#c.coverTime(hb.time)
    await this.#send([heartbeatRecordSet(session, this.#c.id, hb.nextSeq, hb.time)], false)
    this.#heartbeatSent(hb.time)
  }

  /**
   * A heartbeat to ride along with another controller's request, taken now:
   * only while this controller idles (nothing of it in flight or waiting)
   * and every seq it issued is acknowledged (Controller.takeHeartbeat; never
   * while it marks). Undefined otherwise. Never throws.
   */
  async ride(): Promise<Rider | undefined> {
    if (!this.#idling || this.#riding || this.#s.draining() || this.#s.signal.aborted) return undefined
    const hb = this.#c.takeHeartbeat()
    if (hb === undefined) return undefined
    this.#riding = true
    try {
      await this.#c.coverTime(hb.time)
    } catch {
      // the controller's own heartbeat meets the same trouble and reports it
      this.#riding = false
      return undefined
    }
    const rs = heartbeatRecordSet(this.#s.session, this.#c.id, hb.nextSeq, hb.time)
    const message = this.#message(rs)
    return {
      id: this.#c.id,
      messages: [message],
      acknowledged: () => {
        this.#riding = false
        this.#heartbeatSent(hb.time)
        this.#s.onSent?.(this.#c.id, rs, recordBytes(message))
      },
      failed: () => {
        this.#riding = false
      },
    }
  }

  #heartbeatSent(time: number): void {
    this.status.heartbeats++
    this.status.lastHeartbeatTime = time
    this.#lastSend = Date.now()
  }

  /** Waits `ms` (or until woken) as an idle controller, whose heartbeat may ride along meanwhile. */
  async #idle(ms: number): Promise<void> {
    this.#idling = true
    try {
      await this.#wakeup.wait(ms)
    } finally {
      this.#idling = false
    }
  }

  /** How much longer to wait for a fuller record set (0: send now). */
  #lingerLeft(pendingCount: number): number {
    const s = this.#s
    this.#lingerFrom ??= Date.now()
    const lingered = Date.now() - this.#lingerFrom
    if (!s.draining() && pendingCount < s.maxUpdatesPerRecordSet && lingered < s.lingerMs) return s.lingerMs - lingered
    this.#lingerFrom = undefined
    return 0
  }

  #message(rs: RecordSet): OutboundMessage {
    return { key: String(this.#c.id), value: this.#s.transport.encode(rs), headers: recordSetHeaders(rs) }
  }

  /** Posts record sets to the outbox and waits for Kafka's acknowledgement; `writes`: not only a heartbeat. */
  async #send(sets: RecordSet[], writes = true): Promise<void> {
    const id = this.#c.id
    const messages: OutboundMessage[] = sets.map((rs) => this.#message(rs))
    this.sendingSince = Date.now()
    try {
      await this.#s.outbox.post(id, messages, writes)
    } finally {
      this.sendingSince = undefined
    }
    this.status.lastSendAt = Date.now()
    sets.forEach((rs, i) => this.#s.onSent?.(id, rs, recordBytes(messages[i] as OutboundMessage)))
  }
}

/**
 * The leading cuts that go in one Kafka batch: whole record sets, at least
 * one, while their values and each record's Kafka overhead (key, headers,
 * framing) stay within maxBatchBytes. Past one record set the batch thus
 * stays within maxBatchBytes plus the batch header, however many records it
 * holds; one record set alone is within the topic's framing allowance
 * (schemas/wireSizes.ts KAFKA_FRAMING_BYTES).
 */
export function firstBatch<T>(
  cuts: readonly Cut<T>[],
  maxBatchBytes: number,
  overheadOf: (cut: Cut<T>) => number,
): Cut<T>[] {
  let n = 0
  let bytes = 0
  for (; n < cuts.length; n++) {
    const cut = cuts[n] as Cut<T>
    const size = cut.bytes + overheadOf(cut)
    if (n > 0 && bytes + size > maxBatchBytes) break
    bytes += size
  }
  return cuts.slice(0, n)
}

/** Bytes of a record as sent: value, key, and header names and values. */
function recordBytes(m: OutboundMessage): number {
  let bytes = m.value.length + Buffer.byteLength(m.key)
  for (const [k, v] of Object.entries(m.headers)) bytes += Buffer.byteLength(k) + Buffer.byteLength(v)
  return bytes
}
