/**
 * The sender: per controller, moves durable sidefile entries to the
 * controller's partition of the updates topic as record sets, trims the
 * sidefile once Kafka acknowledged them, and sends heartbeats when the
 * controller is idle.
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
 *   time ceiling covers it.
 * - On start the whole remaining sidefile is sent (again): the mover drops
 *   duplicates by (controller, seq).
 */
import { XrcError, errorMessage } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import { sleep } from '../../lib/retry.js'
import type { RecordSet } from '../../schemas/recordSet.js'
import type { Controller } from '../controller/index.js'
import { cutRecordSets, heartbeatRecordSet, recordSetHeaders } from './recordSets.js'
import type { OutboundMessage, Transport } from './kafkaTransport.js'

export type SenderController = Pick<Controller, 'id' | 'readPending' | 'acknowledge' | 'takeHeartbeat' | 'coverTime'>

export interface SenderOptions {
  session: string
  controllers: readonly SenderController[]
  transport: Transport
  lingerMs: number
  heartbeatMs: number
  maxUpdatesPerRecordSet: number
  logger: Logger
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

export type KafkaState = 'connecting' | 'connected' | 'unreachable' | 'stopped' | 'failed'

export interface SenderStatus {
  kafka: { state: KafkaState; unreachableSince?: number; lastError?: string }
  controllers: { id: number; lastHeartbeatTime?: number; recordSets: number; heartbeats: number; lastSendAt?: number }[]
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

class Stopped extends Error {}

export function createSender(options: SenderOptions): Sender {
  const { session, transport, logger } = options
  const log = logger.child({ component: 'sender' })
  const backoff = options.backoff ?? { initialMs: 100, maxMs: 5000 }
  const abort = new AbortController()
  const signals = new Map(options.controllers.map((c) => [c.id, new Signal()]))
  const stats = new Map(
    options.controllers.map((c) => [
      c.id,
      { id: c.id, recordSets: 0, heartbeats: 0 } as SenderStatus['controllers'][number],
    ]),
  )
  let state: KafkaState = 'connecting'
  let unreachableSince: number | undefined
  let lastError: string | undefined
  let maxBatchBytes = 0
  let draining = false
  // per controller: when its current send began (cleared once Kafka acknowledges it)
  const sendingSince = new Map<number, number>()
  // ends every backoff sleep in progress
  let wakeBackoff = new AbortController()
  let loops: Promise<void> | undefined

  function failed(err: unknown, attemptStarted: number, controller?: number): void {
    if (unreachableSince === undefined) {
      // the outage began no later than the attempt that found it
      unreachableSince = attemptStarted
      options.onUnreachable?.(unreachableSince, err)
    }
    const message = errorMessage(err)
    if (message !== lastError)
      log.warn({ err, controller, since: new Date(unreachableSince).toISOString() }, 'Kafka unreachable; retrying')
    lastError = message
    state = 'unreachable'
  }

  function reachable(): void {
    if (unreachableSince !== undefined) {
      const downMs = Date.now() - unreachableSince
      log.info({ downMs }, 'Kafka reachable again')
      options.onReachable?.(downMs)
    }
    unreachableSince = undefined
    lastError = undefined
    state = 'connected'
  }

  /** Runs `attempt` until it succeeds, backing off; throws Stopped when the sender stops. */
  async function persist<T>(attempt: () => Promise<T>, controllers: readonly number[] = []): Promise<T> {
    let delay = backoff.initialMs
    for (;;) {
      if (abort.signal.aborted) throw new Stopped()
      const started = Date.now()
      try {
        const pending = attempt()
        // a stop does not wait for kafkajs to give up; the abandoned attempt's outcome is dropped
        pending.catch(() => undefined)
        const result = await Promise.race([pending, stoppedPromise()])
        reachable()
        return result
      } catch (err) {
        if (err instanceof Stopped) throw err
        if (err instanceof XrcError && err.code === 'XRC_CONFIG_INVALID') throw err
        for (const id of controllers) options.onSendError?.(id, err)
        failed(err, started, controllers[0])
        await sleep(
          Math.round(delay / 2 + (Math.random() * delay) / 2),
          AbortSignal.any([abort.signal, wakeBackoff.signal]),
        ).catch(() => undefined)
        if (wakeBackoff.signal.aborted) delay = backoff.initialMs
        delay = Math.min(delay * 2, backoff.maxMs)
      }
    }
  }

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
  interface Outgoing {
    id: number
    messages: OutboundMessage[]
    resolve: () => void
    reject: (err: unknown) => void
  }
  const outbox: Outgoing[] = []
  let flushing = false

  /** Sends the outbox until it is empty; `flushing` was set when it was scheduled. */
  async function flushOutbox(): Promise<void> {
    try {
      while (outbox.length > 0) {
        const request = outbox.splice(0)
        const ids = request.map((o) => o.id)
        try {
          // throws Stopped when the sender stops first: an abandoned send is never taken for an acknowledged one
          await persist(() => transport.send(request.map((o) => ({ partition: o.id, messages: o.messages }))), ids)
          for (const o of request) o.resolve()
        } catch (err) {
          for (const o of request) o.reject(err)
        }
      }
    } finally {
      flushing = false
    }
  }

  async function send(c: SenderController, sets: RecordSet[]): Promise<void> {
    const messages: OutboundMessage[] = sets.map((rs) => ({
      key: String(c.id),
      value: transport.encode(rs),
      headers: recordSetHeaders(rs),
    }))
    sendingSince.set(c.id, Date.now())
    try {
      await new Promise<void>((resolve, reject) => {
        outbox.push({ id: c.id, messages, resolve, reject })
        if (!flushing) {
          // after this turn of the event loop: the controllers whose timers fired with this one join the request
          flushing = true
          setImmediate(() => void flushOutbox())
        }
      })
    } finally {
      sendingSince.delete(c.id)
    }
    const st = stats.get(c.id)
    if (st) st.lastSendAt = Date.now()
    sets.forEach((rs, i) => options.onSent?.(c.id, rs, recordBytes(messages[i] as OutboundMessage)))
  }

  let stopped: Promise<never> | undefined
  function stoppedPromise(): Promise<never> {
    stopped ??= new Promise<never>((_resolve, reject) =>
      abort.signal.addEventListener('abort', () => reject(new Stopped()), { once: true }),
    )
    stopped.catch(() => undefined)
    return stopped
  }

  async function runController(c: SenderController): Promise<void> {
    const signal = signals.get(c.id) as Signal
    const st = stats.get(c.id) as SenderStatus['controllers'][number]
    let cursor: number | undefined // undefined: the sidefile's start, so a restart sends everything held
    let lastSend = Date.now()
    let lingerFrom: number | undefined
    for (;;) {
      if (abort.signal.aborted) return
      const pending = await c.readPending(cursor, {
        maxEntries: options.maxUpdatesPerRecordSet * 16,
        maxBytes: maxBatchBytes,
      })
      if (pending.length > 0) {
        lingerFrom ??= Date.now()
        const lingered = Date.now() - lingerFrom
        if (!draining && pending.length < options.maxUpdatesPerRecordSet && lingered < options.lingerMs) {
          await signal.wait(options.lingerMs - lingered)
          continue
        }
        lingerFrom = undefined
        const cuts = cutRecordSets(session, c.id, pending, {
          maxUpdates: options.maxUpdatesPerRecordSet,
          maxBytes: maxBatchBytes,
        })
        // one Kafka batch per send: whole record sets up to maxBatchBytes (at least one)
        let n = 0
        let bytes = 0
        while (n < cuts.length && (n === 0 || bytes + (cuts[n]?.bytes ?? 0) <= maxBatchBytes))
          bytes += (cuts[n++] as { bytes: number }).bytes
        const batch = cuts.slice(0, n)
        await send(
          c,
          batch.map((x) => x.recordSet),
        )
        const last = (batch.at(-1) as (typeof cuts)[number]).last
        await c.acknowledge(last.end, last.update.seq)
        cursor = last.end
        st.recordSets += batch.length
        lastSend = Date.now()
        continue
      }
      if (draining) return
      // on a grid shared by the controllers (the last multiple of heartbeatMs at most heartbeatMs after the last send),
      // so that idle controllers' heartbeats fall due together and share a request
      const due = Math.floor((lastSend + options.heartbeatMs) / options.heartbeatMs) * options.heartbeatMs - Date.now()
      if (due > 0) {
        await signal.wait(due)
        continue
      }
      const hb = c.takeHeartbeat()
      if (hb === undefined) {
        // writes have seqs but are not durable yet: the durable signal comes soon
        await signal.wait(options.heartbeatMs)
        continue
      }
      await c.coverTime(hb.time)
      await send(c, [heartbeatRecordSet(session, c.id, hb.nextSeq, hb.time)])
      st.heartbeats++
      st.lastHeartbeatTime = hb.time
      lastSend = Date.now()
    }
  }

  function fatal(err: unknown): void {
    if (err instanceof Stopped) return
    state = 'failed'
    lastError = errorMessage(err)
    log.error({ err }, 'sender stopped on an error it cannot retry')
    options.onFatal?.(err)
  }

  async function run(): Promise<void> {
    try {
      maxBatchBytes = (await persist(() => transport.open())).maxBatchBytes
    } catch (err) {
      fatal(err)
      return
    }
    // settled, not all(): stop() must find every loop finished before the sidefiles close
    await Promise.allSettled(options.controllers.map((c) => runController(c).catch(fatal)))
  }

  return {
    start() {
      if (loops !== undefined) throw new XrcError('XRC_USAGE', 'sender already started')
      loops = run()
    },
    wake(id) {
      signals.get(id)?.notify()
    },
    async stop(stopOptions = {}) {
      if (loops === undefined || abort.signal.aborted) return
      draining = true
      for (const s of signals.values()) s.notify()
      const timeout = stopOptions.flushTimeoutMs ?? 5000
      let timer: NodeJS.Timeout | undefined
      await Promise.race([loops, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeout)))])
      clearTimeout(timer)
      abort.abort()
      await loops
      if (state !== 'failed') state = 'stopped'
      await transport.close().catch((err: unknown) => log.warn({ err }, 'closing the Kafka producer failed'))
    },
    status() {
      return {
        kafka: {
          state,
          ...(unreachableSince !== undefined ? { unreachableSince } : {}),
          ...(lastError !== undefined ? { lastError } : {}),
        },
        controllers: [...stats.values()].map((s) => ({ ...s })),
      }
    },
    unreachableSince: () => unreachableSince,
    retryNow() {
      wakeBackoff.abort()
      wakeBackoff = new AbortController()
    },
    stalledSince() {
      let oldest = unreachableSince
      for (const since of sendingSince.values()) if (oldest === undefined || since < oldest) oldest = since
      return oldest
    },
  }
}

/** Bytes of a record as sent: value, key, and header names and values. */
function recordBytes(m: OutboundMessage): number {
  let bytes = m.value.length + Buffer.byteLength(m.key)
  for (const [k, v] of Object.entries(m.headers)) bytes += Buffer.byteLength(k) + Buffer.byteLength(v)
  return bytes
}
