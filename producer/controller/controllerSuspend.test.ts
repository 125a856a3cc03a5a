/**
 * Property: what a controller's stream can carry around a suspension
 * (schemas/resyncWindow.ts). A controller with a stand-in mirror, a sender
 * that works as the real one does (read durable entries, cut them with
 * cutStream, acknowledge; a heartbeat taken with takeHeartbeat and sent
 * later), writers (some waiting for sidefile space), suspensions (S, a tick
 * taken in the switching step with the waiters released) and resumes (a
 * BEGIN appended, capture only once it is durable), in any interleaving.
 * Then, for every suspension:
 *   - nothing in the stream before its BEGIN has a time above S (no
 *     heartbeat, write or event of the controller after S goes first);
 *   - the BEGIN carries S and its time B is above S; everything after it
 *     in the stream is later than B;
 *   - every write acknowledged while suspended took no seq and a time in
 *     (S, B): marked, never in the stream;
 * and every write acknowledged with a seq is in the stream at its time.
 * The mover then puts the BEGIN in the first group past S
 * (mover/groups/controllerStream.ts), which needs exactly these.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { expect, it } from 'vitest'
import { isXrcError } from '../../lib/errors.js'
import { silentLogger } from '../../lib/logger.js'
import type { RecordSet } from '../../schemas/recordSet.js'
import { cutStream, heartbeatRecordSet, lastSeqOf } from '../sender/recordSets.js'
import { createSessionClock } from '../sessionClock.js'
import { openController, type Controller, type ControllerMirror, type WriteAck } from './controller.js'

const BS = 512

const opArb = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('write' as const),
      block: fc.nat(15),
      blocks: fc.integer({ min: 1, max: 2 }),
    }),
  },
  { weight: 3, arbitrary: fc.constant({ op: 'send' as const }) },
  { weight: 2, arbitrary: fc.constant({ op: 'takeHeartbeat' as const }) },
  { weight: 2, arbitrary: fc.constant({ op: 'sendHeartbeat' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'suspend' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'resume' as const }) },
  { weight: 2, arbitrary: fc.constant({ op: 'yield' as const }) },
)

type Op = typeof opArb extends fc.Arbitrary<infer T> ? T : never

interface Suspension {
  S: number
  epoch: number
  /** When the resume's BEGIN was stamped (undefined while suspended). */
  B?: number
}

async function run(ops: readonly Op[]): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'xrc-controller-suspend-'))
  const clock = createSessionClock()
  let mode: 'capture' | 'mark' = 'capture'
  const mirror: ControllerMirror = {
    mode: () => mode,
    captured: () => undefined,
    mark: async () => undefined,
    recovered: () => undefined,
    checkpoint: async () => undefined,
  }
  // a small sidefile, so writers wait for space (and a suspension releases them onto marking)
  const c: Controller = await openController({
    session: 's',
    id: 0,
    volumes: [{ name: 'a', blocks: 16 }],
    blockSize: BS,
    dataDir,
    clock,
    sidefile: { maxBytes: 3 * 1024, waitMs: 200, segmentBytes: 2 * 1024 },
    maxWriteBytes: 2 * BS,
    logger: silentLogger,
    mirror,
  })
  const stream: RecordSet[] = []
  const acks: WriteAck[] = []
  const suspensions: Suspension[] = []
  const inFlight: Promise<unknown>[] = []
  let cursor: number | undefined
  let heartbeat: { nextSeq: number; time: number } | undefined
  let resuming: Promise<void> | undefined

  const send = async (): Promise<boolean> => {
    const pending = await c.readPending(cursor, { maxEntries: 8, maxBytes: 1 << 20 })
    if (pending.length === 0) return false
    const cuts = cutStream('s', 0, pending, { maxUpdates: 3, maxBytes: 1 << 20 })
    for (const cut of cuts) stream.push(cut.recordSet)
    const last = (cuts.at(-1) as (typeof cuts)[number]).last
    await c.acknowledge(last.end, lastSeqOf(last))
    cursor = last.end
    return true
  }
  const write = (block: number, blocks: number): void => {
    const p = c.write('a', Math.min(block, 16 - blocks), Buffer.alloc(blocks * BS, 1)).then(
      (ack) => void acks.push(ack),
      (err: unknown) => {
        // refused after the wait bound while capturing (no suspension came): it took no seq and no time
        if (!isXrcError(err, 'XRC_SIDEFILE_FULL')) throw err
      },
    )
    inFlight.push(p)
  }
  const resume = (): void => {
    const s = suspensions.at(-1) as Suspension
    resuming = c
      .appendWindow({ event: 'BEGIN', epoch: s.epoch, consistentUntil: s.S, blocks: 1, reason: 'operator' })
      .then(
        (time) => {
          s.B = time
          // capture only once the BEGIN is durable
          mode = 'capture'
          resuming = undefined
        },
        (err: unknown) => {
          // no room for the BEGIN within the wait bound: still suspended, a later resume tries again
          if (!isXrcError(err, 'XRC_SIDEFILE_FULL')) throw err
          resuming = undefined
        },
      )
  }

  try {
    for (const o of ops) {
      switch (o.op) {
        case 'write':
          write(o.block, o.blocks)
          break
        case 'send':
          // the sender sends a heartbeat it took before anything else
          if (heartbeat === undefined) await send()
          break
        case 'takeHeartbeat':
          heartbeat ??= c.takeHeartbeat()
          break
        case 'sendHeartbeat':
          if (heartbeat !== undefined) {
            await c.coverTime(heartbeat.time)
            stream.push(heartbeatRecordSet('s', 0, heartbeat.nextSeq, heartbeat.time))
            heartbeat = undefined
          }
          break
        case 'suspend':
          if (mode === 'capture' && resuming === undefined) {
            // the switching step (mirror.ts suspendNow): mark from here, S a tick, waiters go on marked
            mode = 'mark'
            suspensions.push({ S: clock.tick(), epoch: suspensions.length + 1 })
            inFlight.push(c.checkpointRedo())
            c.releaseWaiters()
          }
          break
        case 'resume':
          if (mode === 'mark' && resuming === undefined) resume()
          break
        case 'yield':
          await new Promise((r) => setImmediate(r))
          break
      }
    }
    // drain: resume, send the held heartbeat, settle every writer (sending frees space for those waiting)
    let settled = false
    void Promise.all(inFlight).then(() => (settled = true))
    for (;;) {
      if (mode === 'mark' && resuming === undefined) resume()
      if (heartbeat !== undefined) {
        stream.push(heartbeatRecordSet('s', 0, heartbeat.nextSeq, heartbeat.time))
        heartbeat = undefined
      }
      if (await send()) continue
      if (mode === 'capture' && settled && resuming === undefined) break
      await new Promise((r) => setTimeout(r, 5))
    }
  } finally {
    await c.close().catch(() => undefined)
    await rm(dataDir, { recursive: true, force: true })
  }

  const begins = stream.flatMap((rs, i) => (rs.window?.event === 'BEGIN' ? [{ i, rs }] : []))
  expect(begins.map((b) => b.rs.window?.epoch)).toEqual(suspensions.map((s) => s.epoch))
  suspensions.forEach((s, k) => {
    const { i, rs } = begins[k] as { i: number; rs: RecordSet }
    expect(rs.window?.consistentUntil).toBe(s.S)
    expect(rs.maxTime).toBe(s.B)
    expect(rs.maxTime).toBeGreaterThan(s.S)
    for (const before of stream.slice(0, i)) expect(before.maxTime).toBeLessThan(s.S)
    for (const after of stream.slice(i + 1)) expect(after.minTime).toBeGreaterThan(rs.maxTime)
  })
  // a write acknowledged while suspended: no seq, a time after the S of its suspension (marked; the window's
  // END covers those stamped after the BEGIN, before capture resumed)
  for (const ack of acks.filter((a) => a.seq === 0)) expect(suspensions.some((s) => ack.time > s.S)).toBe(true)
  // a write acknowledged with a seq is in the stream with its time, outside every suspension
  const sent = new Map(stream.flatMap((rs) => rs.updates.map((u) => [u.seq, u.time] as const)))
  for (const ack of acks.filter((a) => a.seq > 0)) {
    expect(sent.get(ack.seq)).toBe(ack.time)
    expect(suspensions.some((s) => ack.time > s.S && ack.time < (s.B as number))).toBe(false)
  }
}

it('nothing of a suspended controller with a time past S reaches its stream before its BEGIN (property)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 60 }), (ops) => run(ops)),
    { numRuns: 60 },
  )
}, 120_000)
