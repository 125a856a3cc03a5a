/**
 * Resync window events in a controller's sidefile (schemas/resyncWindow.ts):
 * a window entry is stamped in stream order (after every entry queued
 * before it, before every later one) and names the next seq; no heartbeat
 * goes out while one is not acknowledged (it would report a later time
 * first); recovery keeps seqs and times across it.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { windowEnd, type ResyncWindow } from '../../schemas/resyncWindow.js'
import { openController, type ControllerOptions } from './controller.js'
import { SMALL_BLOCK_BYTES, smallControllerOptions } from '../../test/kit/controllerOptions.js'

const BS = SMALL_BLOCK_BYTES
let dataDir: string

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'xrc-controller-window-'))
})
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true })
})

function options(): ControllerOptions {
  return smallControllerOptions(dataDir)
}

const begin: ResyncWindow = { event: 'BEGIN', epoch: 1, consistentUntil: 5, blocks: 2, reason: 'operator' }

it('stamps a window event between the writes around it, names the next seq, and holds heartbeats until it is sent', async () => {
  const c = await openController(options())
  const w1 = await c.write('a', 1, Buffer.alloc(BS, 1))
  const beginTime = await c.appendWindow(begin)
  const w2 = await c.write('a', 2, Buffer.alloc(BS, 2))
  expect(beginTime).toBeGreaterThan(w1.time)
  expect(w2.time).toBeGreaterThan(beginTime)
  expect(w2.seq).toBe(w1.seq + 1) // the event took no seq

  const pending = await c.readPending(undefined, { maxEntries: 10, maxBytes: 1 << 20 })
  expect(
    pending.map((p) => (p.kind === 'WINDOW' ? ['WINDOW', p.entry.nextSeq, p.entry.time] : [p.kind, p.update.seq])),
  ).toEqual([
    ['UPDATES', 1],
    ['WINDOW', 2, beginTime],
    ['UPDATES', 2],
  ])
  // everything with a seq acknowledged up to the writes, but not the event's entry: no heartbeat may pass it
  const [first, event] = pending
  await c.acknowledge(first?.end as number, 1)
  expect(c.takeHeartbeat()).toBeUndefined()
  await c.acknowledge(event?.end as number, 1)
  await c.acknowledge(pending[2]?.end as number, 2)
  const hb = c.takeHeartbeat()
  expect(hb?.nextSeq).toBe(3)
  expect(hb?.time).toBeGreaterThan(w2.time)

  // a window event last in the sidefile: it must not be left behind by a heartbeat either
  await c.appendWindow(windowEnd(1))
  expect(c.takeHeartbeat()).toBeUndefined()
  await c.close()
})

it('recovers seqs and times across window events still in the sidefile', async () => {
  const c = await openController(options())
  await c.write('a', 1, Buffer.alloc(BS, 1))
  const t = await c.appendWindow(begin)
  const endTime = await c.appendWindow(windowEnd(1))
  expect(endTime).toBeGreaterThan(t)
  // a crash: reopen without close
  const again = await openController(options())
  expect(again.recoveredTime).toBeGreaterThanOrEqual(endTime)
  expect(again.status().nextSeq).toBe(2)
  const pending = await again.readPending(undefined, { maxEntries: 10, maxBytes: 1 << 20 })
  expect(pending.map((p) => p.kind)).toEqual(['UPDATES', 'WINDOW', 'WINDOW'])
  expect(again.status().lastSentSeq).toBe(0) // everything held is sent again
  await again.close()
  await c.close().catch(() => undefined)
})

it('recovers a sidefile whose last entry is a window event', async () => {
  const c = await openController(options())
  const w = await c.write('a', 1, Buffer.alloc(BS, 1))
  const pending = await c.readPending(undefined, { maxEntries: 10, maxBytes: 1 << 20 })
  await c.acknowledge(pending[0]?.end as number, w.seq)
  const t = await c.appendWindow(begin)
  await c.close()
  const again = await openController(options())
  // the event names the next seq: seqs go on after the write before it, the clock above its time
  expect(again.status().nextSeq).toBe(2)
  expect(again.recoveredTime).toBeGreaterThanOrEqual(t)
  expect(again.takeHeartbeat()).toBeUndefined() // the event goes first
  const held = await again.readPending(undefined, { maxEntries: 10, maxBytes: 1 << 20 })
  expect(held.at(-1)).toMatchObject({ kind: 'WINDOW', entry: { nextSeq: 2, time: t, window: begin } })
  await again.close()
})
