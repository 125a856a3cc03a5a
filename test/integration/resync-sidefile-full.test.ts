/**
 * A full sidefile suspends the session instead of refusing writes: with
 * Kafka out of reach a writer that found the sidefile full for
 * producer.sidefileWaitMs goes on, marked for resync (seq 0), and so do
 * later writes on every controller of the primary. A primary started again
 * with Kafka in reach resumes by itself and sends the marked blocks as
 * RESYNC record sets: exactly those blocks, with their data, seqs still
 * contiguous per controller, between the resync window's BEGIN and END in
 * each controller's partition. No database is configured: the primary
 * tells the secondary only through the stream.
 */
import { createKafkaClient } from '../../lib/kafka/index.js'
import { afterEach, expect, it } from 'vitest'
import { silentLogger } from '../../lib/logger.js'
import { waitFor } from '../../lib/retry.js'
import { createPrimary, type Primary, type PrimaryEvents } from '../../producer/index.js'
import { freePort } from '../kit/ports.js'
import { blockData, readUpdates, testSession } from './producerTopic.js'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

it('suspends on a full sidefile, keeps writes within the wait bound, and resyncs the marked blocks once Kafka answers', async () => {
  const entry = 12 + 22 + 3 + 512 // framing + entry header + volume name + one block
  const session = await testSession({ sidefileMaxBytes: 4 * entry, sidefileWaitMs: 100 }, 64, {
    resync: { probeMs: 200 },
  })
  cleanups.push(() => session.cleanup())
  const unreachable = createKafkaClient({
    connection: { brokers: [`127.0.0.1:${await freePort()}`] },
    clientId: 'unreachable',
    logger: silentLogger,
    logs: 'none',
    retries: 0,
    connectionTimeoutMs: 500,
  })
  const down: Primary = createPrimary({
    config: session.config,
    logger: silentLogger,
    kafka: unreachable,
    flushTimeoutMs: 500,
  })
  cleanups.push(() => down.stop())
  const full: PrimaryEvents['sidefile.full'][] = []
  down.on('sidefile.full', (e) => void full.push(e))
  await down.start()
  for (let i = 0; i < 4; i++)
    expect((await down.write({ volume: 'v2a', block: i, data: blockData('v2a', i) })).seq).toBe(i + 1)

  const began = performance.now()
  const waited = await down.write({ volume: 'v2a', block: 9, data: blockData('v2a', 9) })
  const ms = performance.now() - began
  expect(waited.seq).toBe(0) // marked, not refused
  expect(ms).toBeGreaterThanOrEqual(90)
  expect(ms).toBeLessThan(100 + 200) // the wait bound, then a mark and a volume sync
  expect(full).toHaveLength(1)
  expect(down.status().mirror).toMatchObject({ state: 'suspended', reason: 'sidefile-full' })
  const marked = new Set(['v2a/9'])
  for (const [volume, block] of [
    ['v0a', 3],
    ['v1b', 7],
    ['v2a', 9],
    ['v0a', 4],
    ['v0a', 5],
  ] as const) {
    const ack = await down.write({ volume, block, data: blockData(volume, block) })
    expect(ack.seq).toBe(0)
    marked.add(`${volume}/${block}`)
  }
  expect(down.status().mirror).toMatchObject({ markedWrites: 6, changes: { pending: marked.size } })
  await down.stop()

  const up = createPrimary({ config: session.config, logger: silentLogger })
  cleanups.push(() => up.stop())
  await up.start()
  expect(up.status().mirror.state).toBe('suspended') // until Kafka answers
  await waitFor('the resync to end', () => (up.status().mirror.state === 'duplex' ? true : undefined), {
    timeoutMs: 60_000,
    intervalMs: 50,
  })
  await waitFor(
    'the sidefiles sent',
    () => (up.status().controllers.every((c) => c.sidefile.entries === 0) ? true : undefined),
    { timeoutMs: 30_000 },
  )
  const { received, stop } = await readUpdates(session.topic)
  cleanups.push(stop)
  // every marked block's RESYNC record (the topic is read from its start: wait for them all, not for a count of
  // updates, which a merged multi-block update makes smaller than the count of blocks)
  const resyncedBlocks = (): Set<string> =>
    new Set(
      received
        .filter((r) => r.recordSet.kind === 'RESYNC')
        .flatMap((r) => r.recordSet.updates)
        .flatMap((u) => Array.from({ length: u.data.length / 512 }, (_, b) => `${u.volume}/${u.block + b}`)),
    )
  await waitFor(
    'the RESYNC record sets',
    () => ([...marked].every((b) => resyncedBlocks().has(b)) ? true : undefined),
    {
      timeoutMs: 30_000,
    },
  )
  const resynced = new Set<string>()
  for (const r of received.filter((x) => x.recordSet.kind === 'RESYNC')) {
    expect(r.headers['xrc.kind']).toBe('RESYNC')
    for (const u of r.recordSet.updates) {
      for (let b = 0; b < u.data.length / 512; b++) {
        resynced.add(`${u.volume}/${u.block + b}`)
        expect(
          u.data.subarray(b * 512, (b + 1) * 512).equals(blockData(u.volume, u.block + b)),
          `${u.volume}/${u.block + b}`,
        ).toBe(true)
      }
    }
  }
  expect([...resynced].sort()).toEqual([...marked].sort())
  await waitFor(
    'every resync window END',
    () => (received.filter((r) => r.recordSet.window?.event === 'END').length >= 3 ? true : undefined),
    { timeoutMs: 30_000 },
  )
  for (const p of [0, 1, 2]) {
    // in the partition: the BEGIN (S = the suspension's tick, before it) precedes every RESYNC record, the END follows
    const inOrder = received.filter((r) => r.partition === p).sort((a, b) => Number(a.offset) - Number(b.offset))
    const at = (pred: (r: (typeof inOrder)[number]) => boolean): number[] =>
      inOrder.flatMap((r, i) => (pred(r) ? [i] : []))
    const begins = at((r) => r.recordSet.window?.event === 'BEGIN')
    const ends = at((r) => r.recordSet.window?.event === 'END')
    const resyncs = at((r) => r.recordSet.kind === 'RESYNC')
    expect(begins.length, `partition ${p}`).toBeGreaterThanOrEqual(1)
    expect(ends.length, `partition ${p}`).toBeGreaterThanOrEqual(1)
    const begin = inOrder[begins[0] as number]?.recordSet
    expect(begin).toMatchObject({ kind: 'HEARTBEAT', window: { epoch: 1, reason: 'sidefile-full' } })
    expect(begin?.window?.consistentUntil).toBeLessThan(begin?.maxTime as number)
    expect(inOrder[begins[0] as number]?.headers['xrc.window']).toBe('BEGIN:1')
    for (const i of resyncs) {
      expect(i, `partition ${p}`).toBeGreaterThan(begins[0] as number)
      expect(i, `partition ${p}`).toBeLessThan(ends.at(-1) as number)
    }
  }
  for (const p of [0, 1, 2]) {
    let next = 1
    for (const r of received
      .filter((x) => x.partition === p && x.recordSet.kind !== 'HEARTBEAT')
      .sort((a, b) => a.recordSet.firstSeq - b.recordSet.firstSeq)) {
      expect(r.recordSet.firstSeq, `partition ${p}`).toBeLessThanOrEqual(next)
      next = Math.max(next, r.recordSet.lastSeq + 1)
    }
  }
})
