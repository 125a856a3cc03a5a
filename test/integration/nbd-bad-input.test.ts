/**
 * Bad input against the real NBD server, through a raw socket client that
 * breaks the protocol on purpose: each case gets its expected reply (or
 * the connection closed, where the protocol says so), and leaves the volume
 * and the stream unchanged (its bytes, and the controller's next seq). A
 * client that disconnects in the middle of a write has written nothing;
 * the connection bound and the handshake bound hold.
 */
import { afterAll, beforeAll, beforeEach, afterEach, describe, expect, it } from 'vitest'
import { silentLogger } from '../../lib/logger.js'
import { waitFor } from '../../lib/retry.js'
import { createPrimary, startNbdServer, type NbdServer, type Primary } from '../../producer/index.js'
import { nbdCodec as codec, nbdProtocol as P } from '../../producer/nbd/index.js'
import { RawNbdClient } from '../kit/nbdClient.js'
import { createTestSession, type TestSession } from '../kit/session.js'

const BS = 4096
const BLOCKS = 64
const MAX_CONNECTIONS = 6

let session: TestSession
let primary: Primary
let nbd: NbdServer
let before: { image: Buffer; seq: number }

const target = (): { path: string } => ({ path: nbd.socketPath as string })
const snapshot = async (): Promise<{ image: Buffer; seq: number }> => ({
  image: await primary.read('c0v0', 0, BLOCKS),
  seq: primary.status().controllers[0]?.nextSeq ?? -1,
})

async function transmission(): Promise<RawNbdClient> {
  const c = await RawNbdClient.connect(target())
  await c.handshake()
  expect((await c.go('c0v0')).replies.at(-1)?.type).toBe(P.REPLIES.ACK)
  return c
}

beforeAll(async () => {
  session = createTestSession({
    controllers: 1,
    volumesPerController: 1,
    blocks: BLOCKS,
    // a small record set bound makes the maximum payload smaller than the volume (about 56 KiB)
    extra: { nbd: { maxConnections: MAX_CONNECTIONS, handshakeTimeoutMs: 1000 }, mover: { maxRecordSetBytes: 65536 } },
  })
  primary = createPrimary({ config: session.config, logger: silentLogger })
  await primary.start()
  nbd = await startNbdServer({ primary, config: session.config, logger: silentLogger, registry: primary.registry })
  // something on the volume, so "unchanged" means something
  for (let b = 0; b < BLOCKS; b += 8)
    await primary.write({ volume: 'c0v0', block: b, data: Buffer.alloc(8 * BS, 0x3c) })
})

afterAll(async () => {
  await nbd?.close()
  await primary?.stop()
  await session?.cleanup()
})

beforeEach(async () => {
  before = await snapshot()
})

afterEach(async () => {
  await waitFor('every test connection to be closed', () => nbd.status().connections === 0 || undefined, {
    timeoutMs: 10_000,
  })
  const after = await snapshot()
  expect(after.seq).toBe(before.seq)
  expect(after.image.equals(before.image)).toBe(true)
})

describe('handshake', () => {
  it('client flags the server did not offer: the connection is closed', async () => {
    const c = await RawNbdClient.connect(target())
    await c.handshake(0x80)
    await c.closed
  })

  it('an option without the IHAVEOPT magic: the connection is closed', async () => {
    const c = await RawNbdClient.connect(target())
    await c.handshake()
    c.write(Buffer.alloc(16, 0x41))
    await c.closed
  })

  it('an option longer than the server reads: the connection is closed', async () => {
    const c = await RawNbdClient.connect(target())
    await c.handshake()
    const header = codec.encodeOption(P.OPTIONS.GO)
    header.writeUInt32BE(P.MAX_OPTION_BYTES + 1, 12)
    c.write(header)
    await c.closed
  })

  it('an unknown export: NBD_REP_ERR_UNKNOWN naming the exports, and the handshake goes on', async () => {
    const c = await RawNbdClient.connect(target())
    await c.handshake()
    const refused = await c.go('nope')
    expect(refused.replies.map((r) => r.type)).toEqual([P.REPLIES.ERR_UNKNOWN])
    expect(refused.replies[0]?.data.toString()).toBe('no export named "nope" (exports: c0v0)')
    const malformed = await c.option(P.OPTIONS.GO, Buffer.from([0, 0, 0, 200, 1]))
    expect(malformed.map((r) => r.type)).toEqual([P.REPLIES.ERR_INVALID])
    expect((await c.option(P.OPTIONS.SET_META_CONTEXT)).map((r) => r.type)).toEqual([P.REPLIES.ERR_UNSUP])
    expect((await c.option(P.OPTIONS.STARTTLS)).map((r) => r.type)).toEqual([P.REPLIES.ERR_UNSUP])
    expect((await c.go('c0v0')).size).toBe(BigInt(BLOCKS * BS))
    await c.disconnect()
  })

  it('NBD_OPT_EXPORT_NAME with an unknown export: the connection is closed (that option cannot carry an error)', async () => {
    const c = await RawNbdClient.connect(target())
    await c.handshake()
    c.write(codec.encodeOption(P.OPTIONS.EXPORT_NAME, Buffer.from('nope')))
    await c.closed
  })

  it('NBD_OPT_ABORT is acknowledged, then closed', async () => {
    const c = await RawNbdClient.connect(target())
    await c.handshake()
    expect((await c.option(P.OPTIONS.ABORT)).map((r) => r.type)).toEqual([P.REPLIES.ACK])
    await c.closed
  })

  it('a client that never finishes the handshake is closed after nbd.handshakeTimeoutMs', async () => {
    const c = await RawNbdClient.connect(target())
    await c.read(P.SIZES.GREETING)
    await waitFor('the idle handshake to be closed', () => c.isClosed || undefined, { timeoutMs: 10_000 })
  })

  it('past nbd.maxConnections a new connection is closed at once; the open ones keep working', async () => {
    const open = await Promise.all(Array.from({ length: MAX_CONNECTIONS }, () => transmission()))
    const extra = await RawNbdClient.connect(target())
    await extra.closed
    await expect(extra.read(P.SIZES.GREETING)).rejects.toThrow(/closed/)
    expect((await open[0]!.readBytes(0, 10)).equals(Buffer.alloc(10, 0x3c))).toBe(true)
    for (const c of open) await c.disconnect()
  })
})

describe('transmission', () => {
  it('past the end: ENOSPC for WRITE and WRITE_ZEROES, EINVAL for READ and TRIM', async () => {
    const c = await transmission()
    const size = BLOCKS * BS
    expect((await c.write_(size - 10, Buffer.alloc(11, 1))).error).toBe(P.ERRORS.ENOSPC)
    expect((await c.request(P.COMMANDS.WRITE_ZEROES, size, 1)).error).toBe(P.ERRORS.ENOSPC)
    expect((await c.request(P.COMMANDS.READ, size - 1, 2)).error).toBe(P.ERRORS.EINVAL)
    expect((await c.request(P.COMMANDS.TRIM, 2n ** 63n, 1)).error).toBe(P.ERRORS.EINVAL)
    await c.disconnect()
  })

  it('a WRITE over the maximum payload: EINVAL, its payload skipped, the connection goes on', async () => {
    const c = await transmission()
    const max = nbd.exports.get('c0v0')?.maxPayload as number
    expect(max).toBeLessThan(BLOCKS * BS)
    expect((await c.write_(0, Buffer.alloc(max + 1, 9))).error).toBe(P.ERRORS.EINVAL)
    expect((await c.request(P.COMMANDS.READ, 0, max + 1)).error).toBe(P.ERRORS.EINVAL)
    expect((await c.readBytes(5, 3)).equals(Buffer.alloc(3, 0x3c))).toBe(true)
    await c.disconnect()
  })

  it('unknown commands, flags not valid for the command, FLUSH with a range: EINVAL', async () => {
    const c = await transmission()
    for (const type of [P.COMMANDS.CACHE, P.COMMANDS.BLOCK_STATUS, 42])
      expect((await c.request(type, 0, 4096)).error).toBe(P.ERRORS.EINVAL)
    expect((await c.write_(0, Buffer.alloc(8), P.COMMAND_FLAGS.NO_HOLE)).error).toBe(P.ERRORS.EINVAL)
    expect((await c.request(P.COMMANDS.WRITE_ZEROES, 0, 8, { flags: P.COMMAND_FLAGS.FAST_ZERO })).error).toBe(
      P.ERRORS.EINVAL,
    )
    expect((await c.request(P.COMMANDS.FLUSH, 4096, 0)).error).toBe(P.ERRORS.EINVAL)
    expect((await c.request(P.COMMANDS.FLUSH, 0, 0)).error).toBe(0)
    await c.disconnect()
  })

  it('with structured replies, errors carry their message and reads come as one data chunk', async () => {
    const c = await RawNbdClient.connect(target())
    await c.handshake()
    expect(await c.structuredReplies()).toBe(true)
    await c.go('c0v0')
    const past = await c.request(P.COMMANDS.READ, BLOCKS * BS - 1, 2)
    expect(past.error).toBe(P.ERRORS.EINVAL)
    expect(past.message).toMatch(/READ of 2 bytes at \d+ ends past the export's 262144 bytes/)
    const unknown = await c.request(42, 0, 1)
    expect(unknown).toMatchObject({ error: P.ERRORS.EINVAL, message: 'unsupported command 0x2a' })
    expect((await c.readBytes(4095, 3)).equals(Buffer.alloc(3, 0x3c))).toBe(true)
    expect((await c.request(P.COMMANDS.READ, 0, 0)).error).toBe(0)
    await c.disconnect()
  })

  it('a request without the request magic: the connection is closed', async () => {
    const c = await transmission()
    c.write(Buffer.alloc(28, 0x55))
    await c.closed
  })

  it('a client gone in the middle of a write has written nothing', async () => {
    const c = await transmission()
    const payload = Buffer.alloc(64 * 1024, 0xee)
    const whole = codec.encodeRequest(
      { flags: 0, type: P.COMMANDS.WRITE, cookie: 9n, offset: 0n, length: payload.length },
      payload,
    )
    c.write(whole.subarray(0, whole.length / 2))
    await new Promise<void>((resolve) => c.socket.end(resolve))
    c.destroy()
    await c.closed
  })
})
