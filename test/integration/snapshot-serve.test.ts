/**
 * `xrc snapshot serve` on the real PostgreSQL with Debian's NBD clients: a
 * snapshot of the secondary served read-only over NBD reads, through
 * qemu-img and nbdcopy, byte for byte as its export file (Snapshots.export)
 * while groups keep applying; nbdinfo shows the exports read-only with
 * their sizes; writes, trims and write-zeroes are refused with NBD_EPERM and
 * change nothing; the live image is read, per connection, as of one group
 * (every block stamped by the group that wrote it); a snapshot deleted while
 * served fails its reads; and the command itself announces its exports and
 * stops on SIGTERM. The stores are made directly (test/kit/servedStore.ts):
 * no Kafka.
 */
import { execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { controllersOf, startImageServer, type ImageServer } from '../../cli/snapshot/imageServer.js'
import { silentLogger } from '../../lib/logger.js'
import { createPool, type Pool } from '../../lib/postgres.js'
import { waitFor } from '../../lib/retry.js'
import { nbdProtocol as P } from '../../producer/nbd/index.js'
import { RawNbdClient } from '../kit/nbdClient.js'
import { createServedStore, stampsOf, type ServedStore } from '../kit/servedStore.js'
import { CLI, writeConfigFile } from '../kit/services.js'
import { stackInfo } from '../kit/servers.js'

const run = promisify(execFile)
const BS = 4096
const cleanups: (() => Promise<unknown>)[] = []
let pool: Pool

beforeAll(() => {
  pool = createPool({ url: stackInfo().databaseUrl, logger: silentLogger, max: 12 })
})

afterAll(async () => {
  for (const c of cleanups.reverse()) await c()
  await pool.end()
})

async function servedStore(volumes: number, blocks: number): Promise<ServedStore> {
  const s = await createServedStore(pool, { volumes, blocks, blockSize: BS })
  cleanups.push(() => s.cleanup())
  return s
}

/** Serves `image` of the store on TCP (any port) and a Unix socket in its data folder. */
async function serve(s: ServedStore, image: string): Promise<ImageServer> {
  const server = await startImageServer({
    pool,
    schema: s.config.applier.schema,
    session: s.config.session.name,
    image,
    controllers: controllersOf(s.config),
    settings: { ...s.config.nbd, host: '127.0.0.1', port: 0, socket: join(s.config.session.dataDir, `${image}.sock`) },
    logger: silentLogger,
  })
  cleanups.push(() => server.close(1000))
  return server
}

const tcpUri = (server: ImageServer, volume: string): string => `${server.server.tcpUrl}/${volume}`
const unixUri = (server: ImageServer, volume: string): string =>
  `nbd+unix:///${volume}?socket=${server.server.socketPath}`

/** `n` distinct random blocks of the store. */
function someBlocks(s: ServedStore, n: number): [string, number][] {
  const picked = new Set<number>()
  while (picked.size < n) picked.add(Math.floor(Math.random() * s.allBlocks.length))
  return [...picked].map((i) => s.allBlocks[i] as [string, number])
}

/** A raw client in the transmission phase on `volume` (structured replies when asked). */
async function rawClient(server: ImageServer, volume: string, structured = false) {
  const c = await RawNbdClient.connect({ path: server.server.socketPath as string })
  await c.handshake()
  if (structured) expect(await c.structuredReplies()).toBe(true)
  const go = await c.go(volume)
  cleanups.push(async () => c.destroy())
  return { c, go }
}

describe('a snapshot served over NBD', () => {
  let s: ServedStore
  let server: ImageServer
  let files: Map<string, string>

  beforeAll(async () => {
    s = await servedStore(2, 768)
    await s.applyNext()
    await s.applyNext(someBlocks(s, 300))
    await s.snapshots.create({ name: 'nightly' })
    files = new Map()
    for (const v of ['c0v0', 'c0v1']) {
      const file = join(s.config.session.dataDir, `nightly-${v}.img`)
      await s.snapshots.export('nightly', v, file)
      files.set(v, file)
    }
    server = await serve(s, 'nightly')
  })

  it('reads through qemu-img convert, nbdcopy and qemu-img compare as its export file while groups apply', async () => {
    const loop = s.keepApplying(() => someBlocks(s, 64))
    try {
      await waitFor('groups to apply', () => (loop.count() >= 2 ? true : undefined), { timeoutMs: 30_000 })
      const before = loop.count()
      const viaQemu = join(s.config.session.dataDir, 'qemu-c0v0.img')
      await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', tcpUri(server, 'c0v0'), viaQemu])
      const viaNbdcopy = join(s.config.session.dataDir, 'nbdcopy-c0v1.img')
      await run('nbdcopy', [unixUri(server, 'c0v1'), viaNbdcopy])
      const { stdout } = await run('qemu-img', [
        'compare',
        '-f',
        'raw',
        '-F',
        'raw',
        files.get('c0v0') as string,
        tcpUri(server, 'c0v0'),
      ])
      expect(stdout).toContain('Images are identical')
      expect((await readFile(viaQemu)).equals(await readFile(files.get('c0v0') as string))).toBe(true)
      expect((await readFile(viaNbdcopy)).equals(await readFile(files.get('c0v1') as string))).toBe(true)
      // the copies ran while groups were being applied to the store
      expect(loop.count()).toBeGreaterThan(before)
    } finally {
      await loop.stop()
    }
    const diff = await s.snapshots.diff('nightly', 'live')
    expect(diff.volumes.reduce((n, v) => n + v.changedBlocks, 0)).toBeGreaterThan(0)
  })

  it('nbdinfo shows every export read-only with its size, multi-conn (one image for every connection)', async () => {
    const { stdout } = await run('nbdinfo', ['--json', tcpUri(server, 'c0v1')])
    const info = JSON.parse(stdout) as { exports: Record<string, unknown>[] }
    expect(info.exports[0]).toMatchObject({
      'export-name': 'c0v1',
      'export-size': 768 * BS,
      is_read_only: true,
      can_multi_conn: true,
      can_trim: false,
      can_zero: false,
      block_size_maximum: 1024 * 1024,
    })
    const listed = JSON.parse((await run('nbdinfo', ['--list', '--json', `${server.server.tcpUrl}`])).stdout) as {
      exports: { 'export-name': string; 'export-size': number; description: string }[]
    }
    expect(listed.exports.map((e) => [e['export-name'], e['export-size']])).toEqual([
      ['c0v0', 768 * BS],
      ['c0v1', 768 * BS],
    ])
    expect(listed.exports[0]?.description).toContain('snapshot "nightly" (group 2)')
  })

  it('refuses WRITE, WRITE_ZEROES and TRIM with EPERM, changing nothing; FLUSH succeeds', async () => {
    const live = await s.store.readImages()
    const { c, go } = await rawClient(server, 'c0v0')
    expect(go.flags & P.TRANSMISSION_FLAGS.READ_ONLY).not.toBe(0)
    const before = await c.readBytes(4090, 9000)
    expect((await c.write_(4090, randomBytes(9000))).error).toBe(P.ERRORS.EPERM)
    expect((await c.write_(0, randomBytes(BS), P.COMMAND_FLAGS.FUA)).error).toBe(P.ERRORS.EPERM)
    expect((await c.request(P.COMMANDS.WRITE_ZEROES, 0, 8 * BS)).error).toBe(P.ERRORS.EPERM)
    expect((await c.request(P.COMMANDS.TRIM, BS, 8 * BS)).error).toBe(P.ERRORS.EPERM)
    expect((await c.request(P.COMMANDS.FLUSH, 0, 0)).error).toBe(0)
    // past the end still says so first
    expect((await c.write_(768 * BS - 10, randomBytes(20))).error).toBe(P.ERRORS.ENOSPC)
    const after = await c.readBytes(4090, 9000)
    expect(after.equals(before)).toBe(true)
    expect(after.equals((await readFile(files.get('c0v0') as string)).subarray(4090, 4090 + 9000))).toBe(true)
    const { c: structured } = await rawClient(server, 'c0v1', true)
    const refused = await structured.write_(0, randomBytes(BS))
    expect(refused.error).toBe(P.ERRORS.EPERM)
    expect(refused.message).toMatch(/read-only/)
    await c.disconnect()
    await structured.disconnect()
    const unchanged = await s.store.readImages()
    expect(unchanged.asOf).toEqual(live.asOf)
    for (const [v, image] of live.images) expect(unchanged.images.get(v)?.equals(image)).toBe(true)
  })
})

describe('the live image served over NBD', () => {
  it('reads one group per connection while groups rewrite every block, a later connection a later group', async () => {
    const s = await servedStore(1, 512)
    const first = await s.applyNext(s.allBlocks, 'stamp')
    const server = await serve(s, 'live')
    expect(server.asOf?.groupSeq).toBe(first)
    const loop = s.keepApplying(() => s.allBlocks, 'stamp')
    try {
      const { c, go } = await rawClient(server, 'c0v0')
      expect(go.flags & P.TRANSMISSION_FLAGS.READ_ONLY).not.toBe(0)
      expect(go.flags & P.TRANSMISSION_FLAGS.CAN_MULTI_CONN).toBe(0)
      const head = await c.readBytes(0, 256 * BS)
      const seen = loop.count()
      await waitFor('two more groups', () => (loop.count() >= seen + 2 ? true : undefined), { timeoutMs: 30_000 })
      const image = Buffer.concat([head, await c.readBytes(256 * BS, 256 * BS)])
      const stamps = new Set(stampsOf(image, BS))
      expect(stamps.size).toBe(1)
      const [group] = [...stamps] as [number]
      expect(group).toBeGreaterThanOrEqual(first)
      const { c: later } = await rawClient(server, 'c0v0')
      const laterImage = Buffer.concat([await later.readBytes(0, 256 * BS), await later.readBytes(256 * BS, 256 * BS)])
      const laterStamps = new Set(stampsOf(laterImage, BS))
      expect(laterStamps.size).toBe(1)
      expect([...laterStamps][0]).toBeGreaterThan(group)
      const viaNbdcopy = join(s.config.session.dataDir, 'live.img')
      await run('nbdcopy', [unixUri(server, 'c0v0'), viaNbdcopy])
      expect(new Set(stampsOf(await readFile(viaNbdcopy), BS)).size).toBe(1)
      await c.disconnect()
      await later.disconnect()
    } finally {
      await loop.stop()
    }
  })
})

describe('what cannot be served', () => {
  it('refuses the live image while a resync is applied; a connection made before reads on, as of its group', async () => {
    const s = await servedStore(1, 16)
    const seq = await s.applyNext(s.allBlocks, 'stamp')
    const server = await serve(s, 'live')
    const { c: before } = await rawClient(server, 'c0v0')
    expect(new Set(stampsOf(await before.readBytes(0, 16 * BS), BS))).toEqual(new Set([seq]))
    await s.applyNext(s.allBlocks, 'stamp', true)
    expect(s.store.consistency()?.state).toBe('inconsistent')
    await expect(serve(s, 'live')).rejects.toMatchObject({
      code: 'XRC_CONFLICT',
      message: expect.stringMatching(/live image .* is inconsistent/),
    })
    const { c: during } = await rawClient(server, 'c0v0', true)
    const refused = await during.request(P.COMMANDS.READ, 0, BS)
    expect(refused).toMatchObject({ error: P.ERRORS.EIO, message: expect.stringMatching(/inconsistent/) })
    expect(new Set(stampsOf(await before.readBytes(0, 16 * BS), BS))).toEqual(new Set([seq]))
    await before.disconnect()
    await during.disconnect()
  })

  it('fails the reads of a snapshot deleted while served, and refuses unknown or pending ones and volumes', async () => {
    const s = await servedStore(1, 16)
    await s.applyNext()
    await s.snapshots.create({ name: 'doomed' })
    await s.snapshots.create({ name: 'later', atGroup: 10 })
    const server = await serve(s, 'doomed')
    const { c } = await rawClient(server, 'c0v0')
    expect((await c.request(P.COMMANDS.READ, 0, BS)).error).toBe(0)
    await s.snapshots.delete('doomed')
    expect((await c.request(P.COMMANDS.READ, 0, BS)).error).toBe(P.ERRORS.EIO)
    await c.disconnect()
    await expect(serve(s, 'nope')).rejects.toMatchObject({ code: 'XRC_NOT_FOUND' })
    await expect(serve(s, 'later')).rejects.toMatchObject({ code: 'XRC_CONFLICT' })
    await s.snapshots.create({ name: 'kept' })
    const base = { pool, schema: s.config.applier.schema, session: s.config.session.name, image: 'kept' }
    const settings = { ...s.config.nbd, port: 0, socket: '-' }
    await expect(
      startImageServer({ ...base, volumes: ['c9v9'], settings, logger: silentLogger }),
    ).rejects.toMatchObject({ code: 'XRC_NOT_FOUND' })
  })
})

interface ReadyLine {
  service: string
  image: string
  asOf: { groupSeq: number }
  tcp?: string
  socket?: string
  exports: { name: string; bytes: number; uris: string[] }[]
}

/** `xrc snapshot serve <args>` as a child process: its ready line, and its exit code once it exits. */
async function serveCommand(
  s: ServedStore,
  args: string[],
): Promise<{ ready: ReadyLine; exited: Promise<number | null>; kill: (signal: NodeJS.Signals) => void }> {
  const configFile = writeConfigFile(s.config.session.dataDir, s.settings)
  const child = spawn(process.execPath, [CLI, '--config', configFile, 'snapshot', 'serve', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  cleanups.push(async () => child.kill('SIGKILL'))
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve)
    void exited.then((code) => reject(new Error(`xrc snapshot serve exited with ${code}`)))
  })
  return { ready: JSON.parse(line) as ReadyLine, exited, kill: (signal) => child.kill(signal) }
}

describe('xrc snapshot serve', () => {
  it('announces its exports on one JSON line, serves them, and exits 0 on SIGTERM', async () => {
    const s = await servedStore(2, 32)
    await s.applyNext()
    await s.snapshots.create({ name: 'cli' })
    const file = join(s.config.session.dataDir, 'cli-c0v1.img')
    await s.snapshots.export('cli', 'c0v1', file)
    const socket = join(s.config.session.dataDir, 'serve.sock')
    const { ready, exited, kill } = await serveCommand(s, ['cli', '--volume', 'c0v1', '--socket', socket])
    expect(ready).toMatchObject({ service: 'snapshot-serve', image: 'cli', asOf: { groupSeq: 1 }, socket })
    expect(ready.tcp).toBeUndefined()
    expect(ready.exports).toEqual([{ name: 'c0v1', bytes: 32 * BS, uris: [`nbd+unix:///c0v1?socket=${socket}`] }])
    const copy = join(s.config.session.dataDir, 'cli-copy.img')
    await run('nbdcopy', [ready.exports[0]?.uris[0] as string, copy])
    expect((await readFile(copy)).equals(await readFile(file))).toBe(true)
    kill('SIGTERM')
    expect(await exited).toBe(0)
  })

  it('serves the live image on TCP and stops on SIGTERM with a client connected, its transaction ended', async () => {
    const s = await servedStore(1, 16)
    const seq = await s.applyNext(s.allBlocks, 'stamp')
    const { ready, exited, kill } = await serveCommand(s, ['live', '--listen', '127.0.0.1:0'])
    expect(ready).toMatchObject({ image: 'live', asOf: { groupSeq: seq } })
    expect(ready.tcp).toMatch(/^nbd:\/\/127\.0\.0\.1:\d+$/)
    const port = Number(new URL(ready.tcp as string).port)
    const c = await RawNbdClient.connect({ host: '127.0.0.1', port })
    await c.handshake()
    await c.go('c0v0')
    expect(new Set(stampsOf(await c.readBytes(0, 16 * BS), BS))).toEqual(new Set([seq]))
    const open = async (): Promise<number> =>
      Number(
        (
          await pool.query<{ n: bigint }>(
            `SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'xrc-snapshot-serve' AND state LIKE 'idle in transaction%'`,
          )
        ).rows[0]?.n,
      )
    expect(await open()).toBe(1)
    // the exit waits for pool.end(), which waits for every client: the connection's transaction was ended
    kill('SIGTERM')
    expect(await exited).toBe(0)
    await c.closed
  })
})
