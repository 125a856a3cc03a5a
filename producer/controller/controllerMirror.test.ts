/**
 * The controller's side of suspend and resync, with a stand-in mirror whose
 * mode the test flips: marked writes take no seq and never reach the
 * sidefile; recovery never redoes an older sidefile entry over a marked
 * write; resync reads hold every write stamped before them; resync entries
 * take contiguous seqs and one time, and refuse to wait for space.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, expect, it } from 'vitest'
import { openController, type Controller, type ControllerMirror, type ControllerOptions } from './controller.js'
import { SMALL_BLOCK_BYTES, smallControllerOptions } from '../../test/kit/controllerOptions.js'

const BS = SMALL_BLOCK_BYTES
let dataDir: string

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'xrc-controller-mirror-'))
})
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true })
})

function standIn(): ControllerMirror & {
  state: 'capture' | 'mark'
  marks: string[]
  captures: number
  floor?: Promise<void>
} {
  const m = {
    state: 'capture' as 'capture' | 'mark',
    marks: [] as string[],
    captures: 0,
    floor: undefined as Promise<void> | undefined,
    mode: () => m.state,
    captured: () => {
      m.captures++
      return undefined
    },
    mark: async (volume: string, block: number) => {
      await m.floor
      m.marks.push(`${volume}/${block}`)
    },
    recovered: () => undefined,
    checkpoint: async () => undefined,
  }
  return m
}

function options(mirror: ControllerMirror, overrides: Partial<ControllerOptions> = {}): ControllerOptions {
  return smallControllerOptions(dataDir, { mirror, ...overrides })
}

const block = (fill: number, blocks = 1): Buffer => Buffer.alloc(blocks * BS, fill)

it('marks writes while suspended, and recovery does not redo older entries over them', async () => {
  const mirror = standIn()
  const c: Controller = await openController(options(mirror))
  const first = await c.write('a', 3, block(1))
  expect(first.seq).toBe(1)
  // suspend: the redo floor is taken in the switching step, marked writes wait for it
  mirror.state = 'mark'
  mirror.floor = c.checkpointRedo()
  const marked = await c.write('a', 3, block(2))
  expect(marked.seq).toBe(0)
  expect(marked.time).toBeGreaterThan(first.time)
  expect(mirror.marks).toEqual(['a/3'])
  expect(c.status()).toMatchObject({ nextSeq: 2, markedWrites: 1 })
  expect(c.takeHeartbeat()).toBeUndefined() // no heartbeat may pass a marked write
  // a crash: reopen without close (the sidefile still holds seq 1, which wrote block 1s)
  const again = await openController(options(standIn()))
  expect(await again.read('a', 3, 1)).toEqual(block(2))
  expect(again.status().nextSeq).toBe(2)
  await again.close()
  await c.close().catch(() => undefined)
})

it('reads for a resync after the writes stamped before, and appends resync entries with contiguous seqs and one time', async () => {
  const mirror = standIn()
  const c = await openController(options(mirror, { sidefile: { maxBytes: 4096, waitMs: 50, segmentBytes: 64 * 1024 } }))
  const pending = c.write('a', 5, block(7))
  const read = c.readAfterWrites('a', 5, 2)
  await pending
  expect(await read).toEqual(Buffer.concat([block(7), block(0)]))
  let stamped = 0
  const durable = c.appendResync(
    [
      { volume: 'a', block: 5, data: block(7) },
      { volume: 'a', block: 9, data: block(8, 2) },
    ],
    (time) => (stamped = time),
  )
  expect(durable).toBeDefined()
  await durable
  const entries = await c.readPending(undefined, { maxEntries: 10, maxBytes: 1 << 20 })
  expect(
    entries.map((e) =>
      e.kind === 'WINDOW' ? [e.kind] : [e.kind, e.update.seq, e.update.time === stamped || e.kind === 'UPDATES'],
    ),
  ).toEqual([
    ['UPDATES', 1, true],
    ['RESYNC', 2, true],
    ['RESYNC', 3, true],
  ])
  // no room for three more blocks in a 4 KiB sidefile: nothing is appended, nothing waits
  expect(c.appendResync([{ volume: 'a', block: 0, data: block(1, 6) }], () => undefined)).toBeUndefined()
  expect(c.status().nextSeq).toBe(4)
  await c.close()
})

it('a writer waiting for sidefile space when the session suspends goes on marked, taking no seq', async () => {
  const mirror = standIn()
  const entry = 12 + 22 + 1 + BS // framing + entry header + volume name + one block
  const c = await openController(
    options(mirror, { sidefile: { maxBytes: 2 * entry, waitMs: 10_000, segmentBytes: 64 * 1024 } }),
  )
  await c.write('a', 0, block(1))
  await c.write('a', 1, block(2))
  const waiting = c.write('a', 2, block(3))
  await new Promise((r) => setTimeout(r, 20))
  expect(c.status().sidefile.waitingWriters).toBe(1)
  mirror.state = 'mark'
  mirror.floor = c.checkpointRedo()
  c.releaseWaiters()
  const ack = await waiting
  expect(ack.seq).toBe(0)
  expect(c.status().nextSeq).toBe(3)
  expect(await c.read('a', 2, 1)).toEqual(block(3))
  await c.close()
})
