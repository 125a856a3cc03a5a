import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isXrcError, type ErrorCode } from '../../lib/errors.js'
import { silentLogger } from '../../lib/logger.js'
import { openController, type Controller, type ControllerOptions, type PendingUpdate } from './controller.js'
import { createSessionClock, type SessionClock } from '../sessionClock.js'
import { volumePath } from './volumeFile.js'

const BS = 512
let dataDir: string
let clock: SessionClock
const opened: Controller[] = []

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'xrc-controller-'))
  clock = createSessionClock()
})
afterEach(async () => {
  for (const c of opened.splice(0)) await c.close()
  await rm(dataDir, { recursive: true, force: true })
})

async function controller(overrides: Partial<ControllerOptions> = {}): Promise<Controller> {
  const c = await openController({
    session: 's1',
    id: 3,
    volumes: [
      { name: 'a', blocks: 16 },
      { name: 'b', blocks: 4 },
    ],
    blockSize: BS,
    dataDir,
    clock,
    sidefile: { maxBytes: 1 << 20, waitMs: 100, segmentBytes: 64 * 1024 },
    maxWriteBytes: 8 * BS,
    logger: silentLogger,
    ...overrides,
  })
  opened.push(c)
  return c
}

async function closeAndForget(c: Controller): Promise<void> {
  await c.close()
  opened.splice(opened.indexOf(c), 1)
}

const block = (fill: number, blocks = 1): Buffer => Buffer.alloc(blocks * BS, fill)

async function codeOf(p: Promise<unknown>): Promise<ErrorCode | string> {
  try {
    await p
    return 'resolved'
  } catch (err) {
    return isXrcError(err) ? err.code : String(err)
  }
}

/** The durable write and resync entries (these tests append no resync window event). */
async function pendingUpdates(c: Controller, maxEntries: number): Promise<PendingUpdate[]> {
  const pending = await c.readPending(undefined, { maxEntries, maxBytes: 1 << 30 })
  return pending.map((p) => {
    if (p.kind === 'WINDOW') throw new Error('unexpected resync window event')
    return p
  })
}

/** Acknowledges everything durable, as the sender does after Kafka's ack. */
async function ackAll(c: Controller): Promise<void> {
  const last = (await pendingUpdates(c, 1e6)).at(-1)
  if (last) await c.acknowledge(last.end, last.update.seq)
}

describe('controller', () => {
  it('rejects bad writes with a clear XRC_INVALID_RECORD or XRC_RECORD_TOO_LARGE, taking no seq', async () => {
    const c = await controller()
    expect(await codeOf(c.write('vol9', 0, block(1)))).toBe('XRC_INVALID_RECORD')
    await expect(c.write('vol9', 0, block(1))).rejects.toThrow(/does not belong to controller 3 \(its volumes: a, b\)/)
    expect(await codeOf(c.write('b', 4, block(1)))).toBe('XRC_INVALID_RECORD')
    expect(await codeOf(c.write('b', 3, block(1, 2)))).toBe('XRC_INVALID_RECORD')
    expect(await codeOf(c.write('b', -1, block(1)))).toBe('XRC_INVALID_RECORD')
    expect(await codeOf(c.write('b', 0.5, block(1)))).toBe('XRC_INVALID_RECORD')
    expect(await codeOf(c.write('a', 0, Buffer.alloc(0)))).toBe('XRC_INVALID_RECORD')
    expect(await codeOf(c.write('a', 0, Buffer.alloc(BS + 1)))).toBe('XRC_INVALID_RECORD')
    await expect(c.write('a', 0, Buffer.alloc(100))).rejects.toThrow(/non-zero multiple of the block size 512/)
    expect(await codeOf(c.write('a', 0, block(1, 9)))).toBe('XRC_RECORD_TOO_LARGE')
    expect(await codeOf(c.write('a', 0, block(1), Number.MAX_SAFE_INTEGER))).toBe('XRC_INVALID_RECORD')
    expect(await codeOf(c.read('a', 15, 2))).toBe('XRC_INVALID_RECORD')
    expect(c.status().nextSeq).toBe(1)
    expect(await c.write('a', 0, block(1))).toMatchObject({ controller: 3, seq: 1 })
  })

  it('gives concurrent writes contiguous seqs whose times increase in seq order, and the sidefile holds them in that order', async () => {
    const c = await controller()
    const acks = await Promise.all(Array.from({ length: 100 }, (_, i) => c.write(i % 2 ? 'a' : 'b', i % 4, block(i))))
    const bySeq = [...acks].sort((x, y) => x.seq - y.seq)
    expect(bySeq.map((a) => a.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
    for (let i = 1; i < bySeq.length; i++)
      expect((bySeq[i] as { time: number }).time).toBeGreaterThan((bySeq[i - 1] as { time: number }).time)
    const pending = await pendingUpdates(c, 1000)
    expect(pending.map((p) => p.update.seq)).toEqual(bySeq.map((a) => a.seq))
    expect(pending.map((p) => p.update.time)).toEqual(bySeq.map((a) => a.time))
  })

  it('applies concurrent writes to one block in seq order: the volume ends with the last seq', async () => {
    const c = await controller()
    const acks = await Promise.all(Array.from({ length: 50 }, (_, i) => c.write('a', 5, block(i + 1))))
    const last = acks.reduce((x, y) => (y.seq > x.seq ? y : x))
    const winner = acks.indexOf(last) + 1
    expect((await c.read('a', 5, 1))[0]).toBe(winner)
  })

  it('makes a dependent write later than the acknowledged write it names, even from another clock', async () => {
    const c = await controller()
    const farAhead = clock.tick() + 2_000_000 // another process whose clock is 2 s ahead
    const ack = await c.write('a', 0, block(1), farAhead)
    expect(ack.time).toBeGreaterThan(farAhead)
  })

  it('takes a heartbeat only when every issued seq is acknowledged, with a time later writes exceed', async () => {
    const c = await controller()
    expect(c.takeHeartbeat()).toMatchObject({ nextSeq: 1 })
    const w = await c.write('a', 0, block(1))
    expect(c.takeHeartbeat()).toBeUndefined()
    await ackAll(c)
    const hb = c.takeHeartbeat()
    expect(hb?.nextSeq).toBe(2)
    expect(hb?.time).toBeGreaterThan(w.time)
    const next = await c.write('a', 1, block(2))
    expect(next.seq).toBe(2)
    expect(next.time).toBeGreaterThan(hb?.time as number)
  })

  it('restarts from its sidefile: redoes entries onto the volume, continues seqs, starts the clock above every time it sent', async () => {
    let c = await controller()
    for (let i = 1; i <= 5; i++) await c.write('a', i, block(i))
    await ackAll(c)
    const hb = c.takeHeartbeat() as { time: number }
    await c.coverTime(hb.time)
    const unsent = await c.write('b', 2, block(77))
    await closeAndForget(c)
    // a crash between the sidefile append and the volume write: the volume lost the write
    const file = volumePath(dataDir, 's1', 'b')
    await writeFile(file, Buffer.alloc(4 * BS))

    clock = createSessionClock({ now: () => 0 }) // the wall clock is far behind after the restart
    c = await controller()
    expect((await c.read('b', 2, 1))[0]).toBe(77)
    expect((await c.read('a', 3, 1))[0]).toBe(3)
    expect(c.recoveredTime).toBeGreaterThan(hb.time)
    expect(c.recoveredTime).toBeGreaterThanOrEqual(unsent.time)
    clock.advanceTo(c.recoveredTime)
    const st = c.status()
    expect(st.nextSeq).toBe(7)
    // acknowledged entries that are still on disk are sent again; seqs 1..6 are pending
    const pending = await pendingUpdates(c, 100)
    expect(pending[0]?.update.seq).toBeLessThanOrEqual(6)
    expect(pending.at(-1)?.update.seq).toBe(6)
    expect(st.lastSentSeq).toBe((pending[0]?.update.seq as number) - 1)
    const after = await c.write('a', 0, block(9))
    expect(after.seq).toBe(7)
    expect(after.time).toBeGreaterThan(hb.time)
  })

  it('reports a full sidefile to the writer and the hook, with the controller id', async () => {
    const events: { controller: number; waitedMs: number }[] = []
    const entry = 12 + 22 + 1 + BS
    const c = await controller({
      sidefile: { maxBytes: 2 * entry, waitMs: 20, segmentBytes: 64 * 1024 },
      onFull: (e) => void events.push(e),
    })
    await c.write('a', 0, block(1))
    await c.write('a', 1, block(2))
    expect(await codeOf(c.write('a', 2, block(3)))).toBe('XRC_SIDEFILE_FULL')
    expect(events).toMatchObject([{ controller: 3 }])
    expect(c.status().nextSeq).toBe(3)
    await ackAll(c)
    expect((await c.write('a', 2, block(3))).seq).toBe(3)
  })

  it('refuses writes after close', async () => {
    const c = await controller()
    await closeAndForget(c)
    expect(await codeOf(c.write('a', 0, block(1)))).toBe('XRC_CLOSED')
  })
})
