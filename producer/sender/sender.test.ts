/**
 * The sender's rules with real controllers and an in-memory transport
 * standing in for the wire (the real broker is in
 * test/integration/producer*.test.ts): a failed send is resent, unchanged,
 * before anything later; the outage shows and clears; heartbeats only when
 * every seq is acknowledged; the controllers share produce requests.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { XrcError } from '../../lib/errors.js'
import { silentLogger } from '../../lib/logger.js'
import { waitFor } from '../../lib/retry.js'
import type { RecordSet } from '../../schemas/recordSet.js'
import { openController, type Controller } from '../controller/index.js'
import type { PartitionBatch, Transport } from './kafkaTransport.js'
import { createSender, type Sender } from './sender.js'
import { createSessionClock } from '../sessionClock.js'

let dataDir: string
let controller: Controller
let sender: Sender | undefined

/** Controller `id` with one volume of 64 blocks of 512 bytes, waking the sender when its writes are durable. */
function openTestController(id: number, volume: string, clock = createSessionClock()): Promise<Controller> {
  return openController({
    session: 's',
    id,
    volumes: [{ name: volume, blocks: 64 }],
    blockSize: 512,
    dataDir,
    clock,
    sidefile: { maxBytes: 1 << 20, waitMs: 100, segmentBytes: 64 * 1024 },
    maxWriteBytes: 4096,
    logger: silentLogger,
    onDurable: () => sender?.wake(id),
  })
}

/** The clock the controllers of a primary share (the tests of several controllers use it). */
let sharedClock: ReturnType<typeof createSessionClock>

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'xrc-sender-'))
  sharedClock = createSessionClock()
  controller = await openTestController(1, 'v', sharedClock)
})
afterEach(async () => {
  await sender?.stop({ flushTimeoutMs: 100 })
  sender = undefined
  await controller.close()
  await rm(dataDir, { recursive: true, force: true })
})

/** Records every send (and the partitions of each request); fails while `down` is set; each request takes `delayMs`. */
function memoryTransport(): Transport & {
  sent: { partition: number; sets: RecordSet[] }[]
  requests: number[][]
  attempts: number
  down: boolean
  delayMs: number
} {
  const t = {
    sent: [] as { partition: number; sets: RecordSet[] }[],
    requests: [] as number[][],
    attempts: 0,
    down: false,
    delayMs: 0,
    open: async () => ({ maxBatchBytes: 1 << 20 }),
    encode: (rs: RecordSet) =>
      Buffer.from(JSON.stringify(rs, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('hex') : v))),
    async send(batches: readonly PartitionBatch[]) {
      t.attempts++
      if (t.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, t.delayMs))
      if (t.down)
        throw new XrcError('XRC_KAFKA_UNREACHABLE', { brokers: 'localhost:9092', cause: new Error('broker down') })
      t.requests.push(batches.map((b) => b.partition))
      for (const b of batches)
        t.sent.push({
          partition: b.partition,
          sets: b.messages.map((m) => JSON.parse(m.value.toString()) as RecordSet),
        })
    },
    close: async () => undefined,
  }
  return t
}

const block = (fill: number): Buffer => Buffer.alloc(512, fill)

it('resends a failed batch unchanged before anything later, and shows the outage until it ends', async () => {
  const transport = memoryTransport()
  const outages: number[] = []
  sender = createSender({
    session: 's',
    controllers: [controller],
    transport,
    lingerMs: 0,
    heartbeatMs: 60_000,
    maxUpdatesPerRecordSet: 100,
    logger: silentLogger,
    backoff: { initialMs: 5, maxMs: 20 },
    onUnreachable: (since) => void outages.push(since),
  })
  transport.down = true
  sender.start()
  const before = Date.now()
  await controller.write('v', 0, block(1))
  await waitFor('a few failed attempts', () => (transport.attempts >= 3 ? true : undefined), {
    timeoutMs: 5000,
    intervalMs: 5,
  })
  const st = sender.status()
  expect(st.kafka.state).toBe('unreachable')
  expect(st.kafka.unreachableSince).toBeGreaterThanOrEqual(before - 5)
  expect(st.kafka.lastError).toContain('broker down')
  await controller.write('v', 1, block(2)) // written during the outage: must come after seq 1
  transport.down = false
  await waitFor(
    'both writes sent',
    () => (transport.sent.flatMap((s) => s.sets).flatMap((rs) => rs.updates).length >= 2 ? true : undefined),
    { timeoutMs: 5000, intervalMs: 5 },
  )
  const seqs = transport.sent.flatMap((s) => s.sets).flatMap((rs) => rs.updates.map((u) => u.seq))
  expect(seqs).toEqual([1, 2])
  expect(transport.sent.every((s) => s.partition === 1)).toBe(true)
  expect(sender.status().kafka).toEqual({ state: 'connected' })
  expect(outages).toHaveLength(1)
  await waitFor('the sidefile trimmed', () => (controller.status().sidefile.entries === 0 ? true : undefined), {
    timeoutMs: 5000,
    intervalMs: 5,
  })
  expect(controller.status().lastSentSeq).toBe(2)
})

it('sends heartbeats only when idle with every seq acknowledged, each later than the last write', async () => {
  const transport = memoryTransport()
  sender = createSender({
    session: 's',
    controllers: [controller],
    transport,
    lingerMs: 0,
    heartbeatMs: 20,
    maxUpdatesPerRecordSet: 100,
    logger: silentLogger,
  })
  sender.start()
  const heartbeats = (): RecordSet[] => transport.sent.flatMap((s) => s.sets).filter((rs) => rs.kind === 'HEARTBEAT')
  await waitFor('two heartbeats', () => (heartbeats().length >= 2 ? true : undefined), {
    timeoutMs: 5000,
    intervalMs: 5,
  })
  const ack = await controller.write('v', 0, block(1))
  await waitFor('a heartbeat after the write', () => (heartbeats().some((h) => h.firstSeq === 2) ? true : undefined), {
    timeoutMs: 5000,
    intervalMs: 5,
  })
  let time = 0
  let nextSeq = 1
  for (const rs of transport.sent.flatMap((s) => s.sets)) {
    expect(rs.minTime).toBeGreaterThan(time)
    expect(rs.firstSeq).toBe(nextSeq)
    nextSeq = rs.lastSeq + 1
    time = rs.maxTime
  }
  expect(heartbeats().find((h) => h.firstSeq === 2)?.minTime).toBeGreaterThan(ack.time)
  expect(sender.status().controllers[0]?.heartbeats).toBe(heartbeats().length)
})

it('stops within its flush bound while Kafka is down, leaving the writes in the sidefile', async () => {
  const transport = memoryTransport()
  transport.down = true
  sender = createSender({
    session: 's',
    controllers: [controller],
    transport,
    lingerMs: 0,
    heartbeatMs: 20,
    maxUpdatesPerRecordSet: 100,
    logger: silentLogger,
    backoff: { initialMs: 5, maxMs: 10 },
  })
  sender.start()
  await controller.write('v', 0, block(1))
  const began = Date.now()
  await sender.stop({ flushTimeoutMs: 100 })
  expect(Date.now() - began).toBeLessThan(2000)
  expect(sender.status().kafka.state).toBe('stopped')
  expect(controller.status().sidefile.entries).toBe(1)
  sender = undefined
})

it("sends what several controllers have ready in shared requests, each controller's seqs in order", async () => {
  const others = await Promise.all([2, 3, 4].map((id) => openTestController(id, `v${id}`)))
  try {
    const transport = memoryTransport()
    transport.delayMs = 10 // a request in flight lets the others gather
    const controllers = [controller, ...others]
    sender = createSender({
      session: 's',
      controllers,
      transport,
      lingerMs: 0,
      heartbeatMs: 60_000,
      maxUpdatesPerRecordSet: 4,
      logger: silentLogger,
    })
    sender.start()
    const writesPerController = 40
    await Promise.all(
      controllers.map(async (c) => {
        for (let i = 0; i < writesPerController; i++) await c.write(c.volumes[0] as string, i % 64, block(i))
      }),
    )
    await waitFor(
      'every write sent',
      () =>
        transport.sent.flatMap((x) => x.sets).flatMap((rs) => rs.updates).length >= 4 * writesPerController
          ? true
          : undefined,
      { timeoutMs: 10_000, intervalMs: 5 },
    )
    for (const c of controllers) {
      const seqs = transport.sent
        .filter((x) => x.partition === c.id)
        .flatMap((x) => x.sets)
        .flatMap((rs) => rs.updates.map((u) => u.seq))
      expect(seqs).toEqual(Array.from({ length: writesPerController }, (_, i) => i + 1))
    }
    // requests carried several controllers at once, and no controller twice in one request
    expect(transport.requests.some((r) => r.length > 1)).toBe(true)
    for (const r of transport.requests) expect(new Set(r).size).toBe(r.length)
    expect(transport.requests.length).toBeLessThan(transport.sent.length)
  } finally {
    await sender?.stop({ flushTimeoutMs: 100 })
    sender = undefined
    for (const c of others) await c.close()
  }
})

it("carries idle controllers' heartbeats in every request that holds writes, and only in those", async () => {
  const idle = await openTestController(2, 'v2', sharedClock)
  try {
    const transport = memoryTransport()
    sender = createSender({
      session: 's',
      controllers: [controller, idle],
      transport,
      lingerMs: 0,
      heartbeatMs: 60_000, // no heartbeat of its own falls due during the test
      maxUpdatesPerRecordSet: 100,
      logger: silentLogger,
    })
    sender.start()
    const sets = (partition: number): RecordSet[] =>
      transport.sent.filter((x) => x.partition === partition).flatMap((x) => x.sets)
    for (let i = 0; i < 5; i++) {
      const ack = await controller.write('v', i, block(i))
      const rider = await waitFor(
        `controller 2's heartbeat beside write ${i}`,
        () => sets(2).find((rs) => rs.kind === 'HEARTBEAT' && rs.minTime > ack.time),
        { timeoutMs: 5000, intervalMs: 5 },
      )
      // it rode in the request of the write: both partitions in one request
      expect(rider.firstSeq).toBe(1)
      expect(transport.requests.some((r) => r.includes(1) && r.includes(2))).toBe(true)
    }
    // heartbeats of controller 2 only ever rode with writes of controller 1
    for (const r of transport.requests) if (r.includes(2)) expect(r).toContain(1)
    expect(sender.status().controllers.find((c) => c.id === 2)?.heartbeats).toBe(sets(2).length)
    // every heartbeat of controller 2 is later than the one before
    const times = sets(2).map((rs) => rs.minTime)
    expect([...times].sort((a, b) => a - b)).toEqual(times)
  } finally {
    await sender?.stop({ flushTimeoutMs: 100 })
    sender = undefined
    await idle.close()
  }
})
