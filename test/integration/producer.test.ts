/**
 * The producer against the real broker and registry: record sets on the
 * right partitions, decodable, with headers that match their bodies and
 * contiguous seqs; heartbeats of idle controllers; the HTTP API.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { silentLogger } from '../../lib/logger.js'
import { waitFor } from '../../lib/retry.js'
import { HEADERS } from '../../schemas/topicNames.js'
import { startHttpApi, type HttpApi } from '../../producer/index.js'
import { createPrimary, type Primary, type WriteAck } from '../../producer/index.js'
import { readUpdates, testSession, type ReceivedRecordSet } from './producerTopic.js'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function started(session: Awaited<ReturnType<typeof testSession>>): Promise<Primary> {
  const primary = createPrimary({ config: session.config, logger: silentLogger })
  cleanups.push(
    () => session.cleanup(),
    () => primary.stop(),
  )
  await primary.start()
  await waitFor(
    'the producer to reach Kafka',
    () => (primary.status().kafka.state === 'connected' ? true : undefined),
    { timeoutMs: 30_000 },
  )
  return primary
}

async function reader(topic: string): Promise<ReceivedRecordSet[]> {
  const r = await readUpdates(topic)
  cleanups.push(r.stop)
  return r.received
}

const block = (fill: number, blocks = 1): Buffer => Buffer.alloc(512 * blocks, fill)

describe('producer on the real stack', () => {
  it('sends writes to partition = controller id as decodable record sets with matching headers and contiguous seqs', async () => {
    const session = await testSession()
    const primary = await started(session)
    const received = await reader(session.topic)
    const writes: { ack: WriteAck; volume: string; block: number; data: Buffer }[] = []
    // sequential and concurrent writes on three controllers, some of several blocks
    for (let i = 0; i < 12; i++) {
      const volume = `v${i % 3}${i % 2 ? 'a' : 'b'}`
      const data = block(i + 1, 1 + (i % 3))
      writes.push({ ack: await primary.write({ volume, block: i, data }), volume, block: i, data })
    }
    await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const volume = `v${i % 3}a`
        const data = block(100 + i)
        writes.push({ ack: await primary.write({ volume, block: 20 + i, data }), volume, block: 20 + i, data })
      }),
    )
    const perController = [0, 1, 2].map((id) => writes.filter((w) => w.ack.controller === id).length)
    const updatesOn = (partition: number): ReceivedRecordSet[] =>
      received.filter((r) => r.partition === partition && r.recordSet.kind === 'UPDATES')
    await waitFor(
      'every write in Kafka',
      () =>
        [0, 1, 2].every(
          (id) => updatesOn(id).reduce((n, r) => n + r.recordSet.updates.length, 0) >= (perController[id] as number),
        )
          ? true
          : undefined,
      { timeoutMs: 30_000 },
    )
    for (const id of [0, 1, 2]) {
      const sets = updatesOn(id)
      const updates = sets.flatMap((r) => r.recordSet.updates)
      expect(updates.map((u) => u.seq)).toEqual(Array.from({ length: perController[id] as number }, (_, i) => i + 1))
      for (let i = 1; i < updates.length; i++)
        expect((updates[i] as { time: number }).time).toBeGreaterThan((updates[i - 1] as { time: number }).time)
      for (const r of sets) {
        const rs = r.recordSet
        expect(r.key).toBe(String(id))
        expect(rs).toMatchObject({ session: session.config.session.name, controller: id })
        expect(r.headers).toEqual({
          [HEADERS.session]: rs.session,
          [HEADERS.controller]: String(id),
          [HEADERS.kind]: 'UPDATES',
          [HEADERS.firstSeq]: String(rs.firstSeq),
          [HEADERS.lastSeq]: String(rs.lastSeq),
          [HEADERS.minTime]: String(rs.minTime),
          [HEADERS.maxTime]: String(rs.maxTime),
        })
        expect(rs.updates[0]?.seq).toBe(rs.firstSeq)
        expect(rs.updates.at(-1)?.seq).toBe(rs.lastSeq)
        expect(rs.minTime).toBe(rs.updates[0]?.time)
        expect(rs.maxTime).toBe(rs.updates.at(-1)?.time)
      }
      for (const w of writes.filter((x) => x.ack.controller === id)) {
        const u = updates.find((x) => x.seq === w.ack.seq)
        expect(u).toMatchObject({ time: w.ack.time, volume: w.volume, block: w.block })
        expect(Buffer.compare(u?.data as Buffer, w.data)).toBe(0)
      }
      // and the primary volume holds the data
      const last = writes.filter((x) => x.ack.controller === id).at(-1) as (typeof writes)[number]
      expect(Buffer.compare(await primary.read(last.volume, last.block, last.data.length / 512), last.data)).toBe(0)
    }
    // the acknowledged entries are trimmed from the sidefiles
    await waitFor(
      'sidefiles drained',
      () => (primary.status().controllers.every((c) => c.sidefile.entries === 0) ? true : undefined),
      { timeoutMs: 10_000 },
    )
    expect(primary.status().controllers.map((c) => c.lastSentSeq)).toEqual(perController)
  })

  it('sends heartbeats from idle controllers, their times increasing, and later writes later still', async () => {
    const session = await testSession()
    const primary = await started(session)
    const received = await reader(session.topic)
    const heartbeats = (partition: number): ReceivedRecordSet[] =>
      received.filter((r) => r.partition === partition && r.recordSet.kind === 'HEARTBEAT')
    await waitFor(
      'three heartbeats per controller',
      () => ([0, 1, 2].every((id) => heartbeats(id).length >= 3) ? true : undefined),
      { timeoutMs: 30_000 },
    )
    const ack = await primary.write({ volume: 'v1a', block: 0, data: block(7) })
    await waitFor(
      'a heartbeat after the write',
      () => (heartbeats(1).some((r) => r.recordSet.firstSeq === 2) ? true : undefined),
      { timeoutMs: 30_000 },
    )
    for (const id of [0, 1, 2]) {
      const partition = received.filter((r) => r.partition === id)
      let time = 0
      let nextSeq = 1
      for (const r of partition) {
        const rs = r.recordSet
        expect(rs.minTime).toBeGreaterThan(time) // heartbeats and writes: strictly later each time
        if (rs.kind === 'HEARTBEAT') {
          expect(rs).toMatchObject({ firstSeq: nextSeq, lastSeq: nextSeq - 1, updates: [], maxTime: rs.minTime })
          expect(r.headers[HEADERS.kind]).toBe('HEARTBEAT')
          expect(r.headers[HEADERS.firstSeq]).toBe(String(nextSeq))
          expect(r.headers[HEADERS.minTime]).toBe(String(rs.minTime))
        } else {
          expect(rs.firstSeq).toBe(nextSeq)
          nextSeq = rs.lastSeq + 1
        }
        time = rs.maxTime
      }
    }
    const before = heartbeats(1).filter((r) => r.recordSet.firstSeq === 1)
    expect(ack.time).toBeGreaterThan((before.at(-1) as ReceivedRecordSet).recordSet.maxTime)
    expect(primary.status().controllers.every((c) => c.heartbeats >= 3)).toBe(true)
  })

  describe('HTTP API', () => {
    async function api(): Promise<{ primary: Primary; http: HttpApi }> {
      const session = await testSession()
      const primary = await started(session)
      const http = await startHttpApi({ primary, port: 0, logger: silentLogger })
      cleanups.push(() => http.close())
      return { primary, http }
    }

    it('writes and reads blocks, orders a dependent write after the token, and serves status and metrics', async () => {
      const { primary, http } = await api()
      const data = Buffer.concat([block(1), block(2)])
      const res = await fetch(`${http.url}/v1/volumes/v2b/blocks/3`, { method: 'POST', body: data })
      expect(res.status).toBe(200)
      const ack = (await res.json()) as WriteAck
      expect(ack).toMatchObject({ controller: 2, seq: 1 })
      const back = await fetch(`${http.url}/v1/volumes/v2b/blocks/3?count=2`)
      expect(back.status).toBe(200)
      expect(Buffer.compare(Buffer.from(await back.arrayBuffer()), data)).toBe(0)

      // a dependent write on another controller, naming the first one's time
      const token = ack.time + 500_000 // as if the first write came from a process whose clock is ahead
      const dep = (await (
        await fetch(`${http.url}/v1/volumes/v0a/blocks/0?after=${token}`, { method: 'POST', body: block(9) })
      ).json()) as WriteAck
      expect(dep.controller).toBe(0)
      expect(dep.time).toBeGreaterThan(token)

      const status = (await (await fetch(`${http.url}/v1/status`)).json()) as ReturnType<Primary['status']>
      expect(status.controllers.map((c) => c.id)).toEqual([0, 1, 2])
      expect(status.controllers.find((c) => c.id === 2)?.nextSeq).toBe(2)
      expect((await fetch(`${http.url}/health`)).status).toBe(200)
      const metrics = await (await fetch(`${http.url}/metrics`)).text()
      expect(metrics).toMatch(/xrc_producer_writes_total\{[^}]*controller="2"[^}]*\} 1/)
      expect(metrics).toContain('xrc_producer_sidefile_bytes')
      await waitFor(
        'the write acknowledged by Kafka',
        () => (primary.status().controllers.find((c) => c.id === 2)?.lastSentSeq === 1 ? true : undefined),
        { timeoutMs: 30_000 },
      )
    })

    it('answers errors with a status and {code, message}', async () => {
      const { primary, http } = await api()
      const cases: [string, RequestInit | undefined, number, string][] = [
        ['/v1/volumes/nope/blocks/0', { method: 'POST', body: block(1) }, 404, 'XRC_NOT_FOUND'],
        ['/v1/volumes/v0a/blocks/0', { method: 'POST', body: Buffer.alloc(100) }, 400, 'XRC_INVALID_RECORD'],
        ['/v1/volumes/v0a/blocks/0', { method: 'POST', body: Buffer.alloc(0) }, 400, 'XRC_INVALID_RECORD'],
        ['/v1/volumes/v0a/blocks/64', { method: 'POST', body: block(1) }, 400, 'XRC_INVALID_RECORD'],
        ['/v1/volumes/v0a/blocks/x1', { method: 'POST', body: block(1) }, 400, 'XRC_INVALID_RECORD'],
        ['/v1/volumes/v0a/blocks/0?after=-5', { method: 'POST', body: block(1) }, 400, 'XRC_INVALID_RECORD'],
        [
          '/v1/volumes/v0a/blocks/0',
          { method: 'POST', body: Buffer.alloc(primary.maxWriteBytes + 512) },
          413,
          'XRC_RECORD_TOO_LARGE',
        ],
        ['/v1/volumes/v0a/blocks/63?count=2', undefined, 400, 'XRC_INVALID_RECORD'],
        ['/v1/volumes/v0a/blocks/0', { method: 'DELETE' }, 405, 'XRC_USAGE'],
        ['/v2/anything', undefined, 404, 'XRC_NOT_FOUND'],
      ]
      for (const [path, init, status, code] of cases) {
        const res = await fetch(`${http.url}${path}`, init)
        const body = (await res.json()) as { code: string; message: string }
        expect({ path, status: res.status, code: body.code }).toEqual({ path, status, code })
        expect(body.message.length).toBeGreaterThan(10)
      }
      expect(primary.status().controllers.every((c) => c.nextSeq === 1)).toBe(true) // no refused write took a seq
    })
  })
})
