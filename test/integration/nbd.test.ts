/**
 * The NBD front end with real clients on the real stack: a primary, a
 * mover and an applier in this process, the primary's volumes served by
 * its NBD server, and Debian's libnbd (nbdcopy), qemu-img and fio writing
 * through it. After each, once the secondary has caught up, its image is
 * compared with what was written (cmp, qemu-img compare). Then the bad
 * inputs, through a raw socket client (test/kit/nbdClient.ts), each with its
 * expected reply and the volume and the stream unchanged; dependent writes
 * across two exports on different controllers under the consistency
 * checker; writes while the session is suspended.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createApplier, type Applier } from '../../applier/index.js'
import { silentLogger } from '../../lib/logger.js'
import { createPool, type Pool } from '../../lib/postgres.js'
import { waitFor } from '../../lib/retry.js'
import { createMover, type Mover } from '../../mover/index.js'
import { createPrimary, startHttpApi, startNbdServer, type NbdServer, type Primary } from '../../producer/index.js'
import { nbdProtocol as P } from '../../producer/nbd/index.js'
import { watchConsistency } from '../../workload/consistencyWatch.js'
import { runDependentWrites, type WriteTarget } from '../../workload/dependentWrites.js'
import { WriteLog } from '../../workload/writeLog.js'
import { lastJsonLine, runCli } from '../kit/cli.js'
import { RawNbdClient } from '../kit/nbdClient.js'
import { writeConfigFile } from '../kit/services.js'
import { createTestSession, type TestSession } from '../kit/session.js'

const run = promisify(execFile)
const BS = 4096
const BLOCKS = 256
const VOLUME_BYTES = BS * BLOCKS

let session: TestSession
let primary: Primary
let mover: Mover
let applier: Applier
let pool: Pool
let nbd: NbdServer
let dir: string
/** Session-clock time of the latest acknowledged host write per volume/block, seen through a wrapper. */
const ackTimes = new Map<string, number>()

const unixUri = (volume: string): string => `nbd+unix:///${volume}?socket=${nbd.socketPath}`
const tcpUri = (volume: string): string => `${nbd.tcpUrl}/${volume}`
const socketTarget = (): { path: string } => ({ path: nbd.socketPath as string })

async function caughtUp(): Promise<void> {
  const latest = Math.max(...primary.status().controllers.map((c) => c.latestTime))
  await waitFor(
    'the secondary to catch up with the primary',
    async () => ((await applier.store.lastApplied())?.groupTime ?? 0) >= latest || undefined,
    { timeoutMs: 60_000, intervalMs: 100 },
  )
}

async function secondaryImage(volume: string): Promise<Buffer> {
  const { images } = await applier.store.readImages([volume])
  return images.get(volume) ?? Buffer.alloc(VOLUME_BYTES)
}

async function secondaryFile(volume: string): Promise<string> {
  const file = join(dir, `secondary-${volume}.img`)
  await writeFile(file, await secondaryImage(volume))
  return file
}

beforeAll(async () => {
  session = createTestSession({
    controllers: 2,
    volumesPerController: 3,
    blocks: BLOCKS,
    extra: { nbd: { maxConnections: 8, handshakeTimeoutMs: 1500 } },
  })
  dir = session.dataDir
  const { config } = session
  pool = createPool({ url: config.database.url, logger: silentLogger, max: 2 })
  primary = createPrimary({ config, logger: silentLogger })
  mover = createMover({ config, logger: silentLogger })
  applier = createApplier({ config, logger: silentLogger, pool })
  await primary.start()
  await Promise.all([mover.start(), applier.start()])
  const observed = {
    controllerIds: primary.controllerIds,
    maxWriteBytes: primary.maxWriteBytes,
    read: primary.read.bind(primary),
    async write(req: Parameters<Primary['write']>[0]) {
      const ack = await primary.write(req)
      ackTimes.set(`${req.volume}/${req.block}`, ack.time)
      return ack
    },
  }
  nbd = await startNbdServer({ primary: observed, config, logger: silentLogger, registry: primary.registry })
})

afterAll(async () => {
  await nbd?.close()
  await primary?.stop()
  await mover?.stop()
  await applier?.stop()
  await pool?.end()
  await session?.cleanup()
})

describe('real clients', () => {
  it('nbdcopy of a random image: the secondary equals it (cmp) and qemu-img compare says identical', async () => {
    const image = join(dir, 'random.img')
    await writeFile(image, randomBytes(VOLUME_BYTES))
    await run('nbdcopy', [image, unixUri('c0v0')])
    await caughtUp()
    const secondary = await secondaryFile('c0v0')
    await run('cmp', [image, secondary])
    const { stdout } = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', secondary, unixUri('c0v0')])
    expect(stdout).toContain('Images are identical')
  })

  it('qemu-img convert of a qcow2 image onto an export over TCP, then the mirror verified', async () => {
    const qcow = join(dir, 'image.qcow2')
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', qcow, String(VOLUME_BYTES)])
    for (const [pattern, offset, length] of [
      ['0xab', 4097, 70_000],
      ['0x5c', 512_000, 8192],
      ['0x11', VOLUME_BYTES - 4096, 4096],
    ] as const)
      await run('qemu-io', ['-f', 'qcow2', '-c', `write -P ${pattern} ${offset} ${length}`, qcow])
    await run('qemu-img', ['convert', '-n', '-f', 'qcow2', '-O', 'raw', qcow, tcpUri('c1v0')])
    await caughtUp()
    const { stdout } = await run('qemu-img', ['compare', '-f', 'qcow2', '-F', 'raw', qcow, await secondaryFile('c1v0')])
    expect(stdout).toContain('Images are identical')
    expect((await secondaryImage('c1v0')).equals(await session.primaryImage('c1v0'))).toBe(true)
  })

  it('fio random writes of 512 B to 64 KiB, unaligned, 4 jobs at queue depth 16: verify passes, mirror equal', async () => {
    const { stdout } = await run(
      'fio',
      [
        '--name=nbd-verify',
        '--ioengine=nbd',
        `--uri=${unixUri('c0v1')}`,
        '--rw=randwrite',
        '--bsrange=512-64k',
        '--blockalign=512',
        '--iodepth=16',
        '--numjobs=4',
        `--size=${VOLUME_BYTES / 4}`,
        `--offset_increment=${VOLUME_BYTES / 4}`,
        '--verify=crc32c',
        '--do_verify=1',
        '--verify_fatal=1',
        '--verify_state_save=0',
        '--runtime=30',
        '--output-format=json',
      ],
      { maxBuffer: 16 << 20, cwd: dir },
    )
    const report = JSON.parse(stdout.slice(stdout.indexOf('{'))) as {
      jobs: { error: number; write: { io_bytes: number }; read: { io_bytes: number } }[]
    }
    expect(report.jobs).toHaveLength(4)
    for (const job of report.jobs) {
      expect(job.error).toBe(0)
      expect(job.write.io_bytes).toBe(VOLUME_BYTES / 4)
      expect(job.read.io_bytes).toBe(VOLUME_BYTES / 4) // fio read every written byte back and verified it
    }
    await caughtUp()
    expect((await secondaryImage('c0v1')).equals(await session.primaryImage('c0v1'))).toBe(true)
  })
})

describe('semantics', () => {
  it('concurrent unaligned writes to shared blocks from two connections lose no bytes', async () => {
    const [a, b] = await Promise.all([RawNbdClient.connect(socketTarget()), RawNbdClient.connect(socketTarget())])
    for (const c of [a, b]) {
      await c!.handshake()
      expect((await c!.go('c1v2')).replies.at(-1)?.type).toBe(P.REPLIES.ACK)
    }
    const expected = Buffer.alloc(64 * 1000)
    const writes = Array.from({ length: 64 }, (_, i) => {
      const data = Buffer.alloc(1000, i + 1)
      data.copy(expected, i * 1000)
      return (i % 2 ? a : b)!.write_(i * 1000, data)
    })
    expect((await Promise.all(writes)).map((r) => r.error)).toEqual(new Array(64).fill(0))
    expect((await a!.readBytes(0, expected.length)).equals(expected)).toBe(true)
    for (const c of [a, b]) await c!.disconnect()
  })

  it('WRITE_ZEROES and TRIM write zeros (mirrored); FLUSH and FUA answer once durable', async () => {
    const c = await RawNbdClient.connect(socketTarget())
    await c.handshake()
    await c.go('c1v2')
    const pattern = Buffer.alloc(12 * BS, 0x77)
    expect((await c.write_(100_000, pattern, P.COMMAND_FLAGS.FUA)).error).toBe(0)
    expect((await c.request(P.COMMANDS.WRITE_ZEROES, 100_003, 5000, { flags: P.COMMAND_FLAGS.NO_HOLE })).error).toBe(0)
    expect((await c.request(P.COMMANDS.TRIM, 120_001, 8191)).error).toBe(0)
    expect((await c.request(P.COMMANDS.FLUSH, 0, 0)).error).toBe(0)
    const expected = Buffer.from(pattern)
    expected.fill(0, 3, 5003)
    expected.fill(0, 20_001, 28_192)
    expect((await c.readBytes(100_000, pattern.length)).equals(expected)).toBe(true)
    await c.disconnect()
  })

  it('dependent writes across two exports on different controllers: 0 mixed states on the secondary', async () => {
    const clients = new Map<string, RawNbdClient>()
    for (const v of ['c0v2', 'c1v2']) {
      const c = await RawNbdClient.connect(socketTarget())
      await c.handshake()
      await c.go(v)
      clients.set(v, c)
    }
    const target: WriteTarget = {
      async write({ volume, block, data }) {
        const r = await clients.get(volume)!.write_(block * BS, data)
        if (r.error !== 0) throw new Error(`NBD write failed with ${r.error}`)
        const time = ackTimes.get(`${volume}/${block}`) as number
        return { controller: volume === 'c0v2' ? 0 : 1, seq: 0, time }
      },
    }
    const log = new WriteLog()
    const watch = watchConsistency({
      pool,
      schema: session.config.applier.schema,
      session: session.config.session.name,
      log,
    })
    const ac = new AbortController()
    const running = runDependentWrites(target, {
      volumes: [
        { name: 'c0v2', blocks: BLOCKS, controller: 0 },
        { name: 'c1v2', blocks: BLOCKS, controller: 1 },
      ],
      blockSize: BS,
      writers: 4,
      signal: ac.signal,
      seed: 7,
      log,
    })
    await waitFor(
      'dependent writes to be applied under load',
      () => (watch.current().groupsObserved >= 10 && log.counts().acked >= 200) || undefined,
      {
        timeoutMs: 60_000,
        intervalMs: 100,
      },
    )
    ac.abort()
    const result = await running
    await caughtUp()
    const report = await watch.stop()
    expect(result.errors).toBe(0)
    expect(report.samples).toEqual([])
    expect(report.mixedStates).toBe(0)
    expect(report.groupsObserved).toBeGreaterThanOrEqual(10)
    for (const c of clients.values()) await c.disconnect()
  })

  it('writes go on while the session is suspended, and reach the secondary after resume', async () => {
    await primary.suspend()
    expect(primary.status().mirror.state).toBe('suspended')
    const image = join(dir, 'suspended.img')
    await writeFile(image, randomBytes(VOLUME_BYTES))
    await run('nbdcopy', [image, unixUri('c1v0')])
    expect((await session.primaryImage('c1v0')).equals(await readFile(image))).toBe(true)
    await primary.resume()
    await waitFor('the resync to finish', () => primary.status().mirror.state === 'duplex' || undefined, {
      timeoutMs: 60_000,
      intervalMs: 100,
    })
    await caughtUp()
    await waitFor(
      'the secondary to hold the resynced volume',
      async () => (await secondaryImage('c1v0')).equals(await readFile(image)) || undefined,
      { timeoutMs: 60_000, intervalMs: 200 },
    )
  })
})

it('xrc status lists the exports, their connections and write rates; the metrics are per export', async () => {
  const api = await startHttpApi({ primary, port: 0, logger: silentLogger, nbd })
  const c = await RawNbdClient.connect(socketTarget())
  try {
    await c.handshake()
    await c.go('c0v2')
    expect((await c.write_(0, Buffer.alloc(BS, 1))).error).toBe(0)
    const configFile = writeConfigFile(dir, session.settings)
    const r = await runCli(['--config', configFile, 'status', '--json', '--primary', api.url])
    expect(r.code, r.stderr).toBe(0)
    const status = lastJsonLine<{ nbd?: { socket: string; connections: number; exports: Record<string, unknown>[] } }>(
      r,
    )
    expect(status.nbd?.socket).toBe(nbd.socketPath)
    expect(status.nbd?.exports.map((e) => e.name)).toEqual(['c0v0', 'c0v1', 'c0v2', 'c1v0', 'c1v1', 'c1v2'])
    expect(status.nbd?.exports.find((e) => e.name === 'c0v2')).toMatchObject({ controller: 0, connections: 1 })
    expect(status.nbd?.exports.find((e) => e.name === 'c0v1')?.writes).toBeGreaterThan(0)
    const human = await runCli(['--config', configFile, 'status', '--primary', api.url])
    expect(human.stdout).toMatch(/nbd .*nbd\.sock.*connections open\n\s+c0v0 +controller 0/)
    const metrics = await (await fetch(`${api.url}/metrics`)).text()
    expect(metrics).toMatch(/xrc_nbd_connections\{export="c0v2",[^}]*\} 1/)
    expect(metrics).toMatch(/xrc_nbd_write_bytes_total\{export="c0v1",[^}]*\} [1-9]/)
  } finally {
    await c.disconnect()
    await api.close()
  }
})
