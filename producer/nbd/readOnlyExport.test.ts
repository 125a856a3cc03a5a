import { describe, expect, it } from 'vitest'
import { ERRORS, TRANSMISSION_FLAGS } from './protocol.js'
import { ReadOnlyVolumeExport, readOnlyFlags, type BlockRangeReader } from './readOnlyExport.js'
import { errnoOf } from './transmission.js'

const BS = 512

/** An image whose block b is filled with the byte b + tag, with a log of what happened to its readers. */
function fakeImage(tag: number) {
  const log: string[] = []
  let opened = 0
  const open = (): Promise<BlockRangeReader> => {
    const id = ++opened
    log.push(`open ${id}`)
    return Promise.resolve({
      read(first: number, count: number) {
        log.push(`read ${id} ${first}+${count}`)
        const out = Buffer.alloc(count * BS)
        for (let b = 0; b < count; b++) out.fill(first + b + tag, b * BS, (b + 1) * BS)
        return Promise.resolve(out)
      },
      close() {
        log.push(`close ${id}`)
        return Promise.resolve()
      },
    })
  }
  const exp = new ReadOnlyVolumeExport({
    name: 'v',
    controller: 0,
    blocks: 8,
    blockSize: BS,
    maxPayload: 4 * BS,
    image: 'snapshot "s" (group 3)',
    open,
  })
  return { exp, log }
}

describe('readOnlyFlags', () => {
  it('advertises read-only and flush, multi-conn only when every connection reads one image', () => {
    const { HAS_FLAGS, READ_ONLY, SEND_FLUSH, CAN_MULTI_CONN, SEND_TRIM, SEND_WRITE_ZEROES } = TRANSMISSION_FLAGS
    expect(readOnlyFlags(true)).toBe(HAS_FLAGS | READ_ONLY | SEND_FLUSH | CAN_MULTI_CONN)
    expect(readOnlyFlags(false)).toBe(HAS_FLAGS | READ_ONLY | SEND_FLUSH)
    expect(readOnlyFlags(true) & (SEND_TRIM | SEND_WRITE_ZEROES)).toBe(0)
  })
})

describe('ReadOnlyVolumeExport', () => {
  it('reads any byte range through the whole blocks under it, each connection through its own reader', async () => {
    const { exp, log } = fakeImage(1)
    const a = exp.attach()
    const b = exp.attach()
    const bytes = await a.read(BS - 2, BS + 4)
    expect([...bytes]).toEqual([1, 1, ...Array<number>(BS).fill(2), 3, 3])
    expect(await b.read(0, 0)).toHaveLength(0)
    a.detach()
    b.detach()
    await new Promise((resolve) => setImmediate(resolve))
    expect(log).toEqual(['open 1', 'open 2', 'read 1 0+3', 'close 1', 'close 2'])
  })

  it('refuses writes, zeroing and trims with NBD_EPERM naming the image; flush does nothing', async () => {
    const { exp, log } = fakeImage(0)
    const view = exp.attach()
    const write = view.write(0, Buffer.alloc(BS))
    await expect(write).rejects.toMatchObject({ code: 'XRC_USAGE', message: expect.stringMatching(/read-only/) })
    expect(errnoOf(await write.catch((e: unknown) => e))).toBe(ERRORS.EPERM)
    expect(errnoOf(await view.zero(0, BS).catch((e: unknown) => e))).toBe(ERRORS.EPERM)
    await expect(view.flush()).resolves.toBeUndefined()
    expect(view.writesInFlight).toBe(0)
    expect(log).toEqual(['open 1'])
  })

  it('fails the reads of a connection whose reader did not open, without an unhandled rejection', async () => {
    const exp = new ReadOnlyVolumeExport({
      name: 'v',
      controller: 0,
      blocks: 8,
      blockSize: BS,
      maxPayload: 4 * BS,
      image: 'the live image',
      open: () => Promise.reject(new Error('inconsistent')),
    })
    const view = exp.attach()
    await expect(view.read(0, BS)).rejects.toThrow('inconsistent')
    view.detach()
    const idle = exp.attach()
    idle.detach()
    await new Promise((resolve) => setImmediate(resolve))
  })
})
