/**
 * The producer across restarts and outages, on the real stack: a new
 * primary object on the same data folder sends what the old one left in
 * its sidefiles and continues seqs without reuse; while Kafka is out of
 * reach writes go on into the sidefile, the outage shows in status, and a
 * full sidefile refuses writes with XRC_SIDEFILE_FULL and says so on its hook.
 */
import { type KafkaClient, createKafkaClient } from '../../lib/kafka/index.js'
import { afterEach, expect, it } from 'vitest'
import { isXrcError } from '../../lib/errors.js'
import { silentLogger } from '../../lib/logger.js'
import { waitFor } from '../../lib/retry.js'
import { createPrimary, type Primary, type PrimaryEvents, type PrimaryOptions } from '../../producer/index.js'
import type { Update } from '../../schemas/recordSet.js'
import { freePort } from '../kit/ports.js'
import { readUpdates, testSession, type ReceivedRecordSet, type TestSession } from './producerTopic.js'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const block = (fill: number): Buffer => Buffer.alloc(512, fill)

function primaryOf(session: TestSession, extra: Partial<PrimaryOptions> = {}): Primary {
  const primary = createPrimary({ config: session.config, logger: silentLogger, flushTimeoutMs: 1000, ...extra })
  cleanups.push(() => primary.stop())
  return primary
}

/** A kafkajs client whose only broker is a port nobody listens on. */
async function unreachableKafka(): Promise<KafkaClient> {
  return createKafkaClient({
    connection: { brokers: [`127.0.0.1:${await freePort()}`] },
    clientId: 'unreachable',
    logger: silentLogger,
    logs: 'none',
    retries: 0,
    connectionTimeoutMs: 500,
  })
}

async function connected(primary: Primary): Promise<void> {
  await waitFor(
    'the producer to reach Kafka',
    () => (primary.status().kafka.state === 'connected' ? true : undefined),
    { timeoutMs: 30_000 },
  )
}

function updatesOf(received: ReceivedRecordSet[], partition: number): Update[] {
  return received.filter((r) => r.partition === partition).flatMap((r) => r.recordSet.updates)
}

it('a restarted primary resends its sidefile and continues seqs without reuse, also after an outage', async () => {
  const session = await testSession()
  cleanups.push(() => session.cleanup())
  const written = new Map<string, Buffer>() // `${controller}:${seq}` -> data

  // 1. Kafka answers: seqs 1..5 on controller 0 are sent and acknowledged
  const first = primaryOf(session)
  await first.start()
  await connected(first)
  for (let i = 1; i <= 5; i++) {
    const ack = await first.write({ volume: 'v0a', block: i, data: block(i) })
    written.set(`0:${ack.seq}`, block(i))
  }
  await waitFor('seq 5 acknowledged', () => (first.status().controllers[0]?.lastSentSeq === 5 ? true : undefined), {
    timeoutMs: 30_000,
  })
  await first.stop()

  // 2. Kafka out of reach: writes go on into the sidefile; the outage shows in status and on the hook
  const down = primaryOf(session, { kafka: await unreachableKafka() })
  const outages: PrimaryEvents['kafka.unreachable'][] = []
  down.on('kafka.unreachable', (e) => void outages.push(e))
  const began = Date.now()
  await down.start()
  for (let i = 6; i <= 10; i++) {
    const ack = await down.write({ volume: 'v0b', block: i, data: block(i) })
    expect(ack.seq).toBe(i)
    written.set(`0:${ack.seq}`, block(i))
  }
  for (let i = 1; i <= 3; i++) {
    const ack = await down.write({ volume: 'v1a', block: i, data: block(50 + i) })
    written.set(`1:${ack.seq}`, block(50 + i))
  }
  await waitFor('the outage in status', () => (down.status().kafka.unreachableSince ? true : undefined), {
    timeoutMs: 30_000,
  })
  const st = down.status()
  expect(st.kafka.state).toBe('unreachable')
  expect(Date.parse(st.kafka.unreachableSince as string)).toBeGreaterThanOrEqual(began - 1000)
  expect(st.kafka.lastError).toBeTruthy()
  expect(outages).toHaveLength(1)
  expect(st.controllers[0]?.sidefile.entries).toBeGreaterThanOrEqual(5)
  expect(down.health().status).toBe('degraded')
  await down.stop()

  // 3. Kafka back, a new primary on the same folder: everything unsent arrives, seqs go on
  const third = primaryOf(session)
  await third.start()
  expect(third.status().controllers.map((c) => c.nextSeq)).toEqual([11, 4, 1])
  await connected(third)
  const { received, stop } = await readUpdates(session.topic)
  cleanups.push(stop)
  const seqs = (p: number): Set<number> => new Set(updatesOf(received, p).map((u) => u.seq))
  await waitFor(
    'seqs 1..10 of controller 0 and 1..3 of controller 1',
    () => (seqs(0).size === 10 && seqs(1).size === 3 ? true : undefined),
    { timeoutMs: 30_000 },
  )
  const next = await third.write({ volume: 'v0a', block: 0, data: block(11) })
  expect(next.seq).toBe(11)
  written.set('0:11', block(11))
  await waitFor('seq 11', () => (seqs(0).has(11) ? true : undefined), { timeoutMs: 30_000 })

  for (const p of [0, 1]) {
    // a seq may come twice (a resend), always with the same data; never a gap in partition order
    let maxSeen = 0
    for (const r of received.filter((x) => x.partition === p)) {
      const rs = r.recordSet
      expect(rs.firstSeq).toBeLessThanOrEqual(maxSeen + 1)
      maxSeen = Math.max(maxSeen, rs.lastSeq)
      for (const u of rs.updates) expect(Buffer.compare(u.data, written.get(`${p}:${u.seq}`) as Buffer)).toBe(0)
    }
  }
  expect(Buffer.compare(await third.read('v0b', 8, 1), block(8))).toBe(0)
  expect(Buffer.compare(await third.read('v1a', 3, 1), block(53))).toBe(0)
})

it('refuses writes with XRC_SIDEFILE_FULL when the sidefile stays full, reports it, and takes writes again once Kafka drains it', async () => {
  const entry = 12 + 22 + 3 + 512 // framing + entry header + volume name + one block
  // the refusal is what this test is about; by default the session would suspend instead (resync-*.test.ts)
  const session = await testSession({ sidefileMaxBytes: 4 * entry, sidefileWaitMs: 100 }, 64, {
    resync: { suspendOnSidefileFull: false },
  })
  cleanups.push(() => session.cleanup())
  const down = primaryOf(session, { kafka: await unreachableKafka() })
  const full: PrimaryEvents['sidefile.full'][] = []
  down.on('sidefile.full', (e) => void full.push(e))
  await down.start()
  for (let i = 0; i < 4; i++) await down.write({ volume: 'v2a', block: i, data: block(i) })
  const waiting = down.write({ volume: 'v2a', block: 9, data: block(9) }).catch((err: unknown) => err)
  await waitFor(
    'a writer waiting for space',
    () => (down.status().controllers[2]?.sidefile.waitingWriters === 1 ? true : undefined),
    { timeoutMs: 5000, intervalMs: 5 },
  )
  const err = await waiting
  expect(isXrcError(err, 'XRC_SIDEFILE_FULL')).toBe(true)
  expect(full).toHaveLength(1)
  expect(full[0]).toMatchObject({ controller: 2, bytes: 4 * entry, maxBytes: 4 * entry })
  expect(full[0]?.waitedMs).toBeGreaterThanOrEqual(90)
  const metrics = await down.registry.metrics()
  expect(metrics).toMatch(/xrc_producer_sidefile_full_total\{[^}]*controller="2"[^}]*\} 1/)
  expect(metrics).toMatch(/xrc_producer_sidefile_wait_seconds_count\{[^}]*outcome="full"[^}]*\} 1/)
  expect((await down.write({ volume: 'v0a', block: 0, data: block(1) })).seq).toBe(1) // other controllers are not affected
  await down.stop()

  const up = primaryOf(session)
  await up.start()
  await waitFor('the sidefile drained', () => (up.status().controllers[2]?.sidefile.entries === 0 ? true : undefined), {
    timeoutMs: 30_000,
  })
  expect((await up.write({ volume: 'v2a', block: 9, data: block(9) })).seq).toBe(5)
})
