/**
 * A producer process killed with SIGKILL at random points of a write
 * workload loses no acknowledged write: after each restart (a new process
 * on the same data folder) the seqs go on without reuse, every acknowledged
 * write is on its primary volume and reaches Kafka, and each controller's
 * partition holds its seqs without a gap, every copy of a seq with the same data.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { afterEach, expect, it } from 'vitest'
import { silentLogger } from '../../lib/logger.js'
import { waitFor } from '../../lib/retry.js'
import { createPrimary, type WriteAck } from '../../producer/index.js'
import { blockData, readUpdates, testSession } from './producerTopic.js'

const CHILD = fileURLToPath(new URL('./producerChild.ts', import.meta.url))
const RUNS = 4

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

type Acked = WriteAck & { volume: string; block: number }

it('loses no acknowledged write when the producer process is killed at random points', async () => {
  const session = await testSession({}, 4096)
  cleanups.push(() => session.cleanup())
  const acked: Acked[] = []

  for (let run = 0; run < RUNS; run++) {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(session.config), String(run)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    let buffered = ''
    let runAcks = 0
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString()
      const lines = buffered.split('\n')
      buffered = lines.pop() ?? ''
      for (const line of lines) {
        if (line.startsWith('{')) {
          acked.push(JSON.parse(line) as Acked)
          runAcks++
        }
      }
    })
    const killAt = 1 + Math.floor(Math.random() * 150)
    await waitFor(`run ${run}: ${killAt} acknowledged writes`, () => (runAcks >= killAt ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 1,
      abortIf: () => (child.exitCode !== null ? `the child exited (${child.exitCode}): ${stderr}` : undefined),
    })
    child.kill('SIGKILL')
    await once(child, 'exit')
  }

  // no seq was given to two acknowledged writes
  const bySeq = new Map<string, Acked>()
  for (const a of acked) {
    const key = `${a.controller}:${a.seq}`
    expect(bySeq.get(key), `seq ${key} acknowledged twice`).toBeUndefined()
    bySeq.set(key, a)
  }

  const primary = createPrimary({ config: session.config, logger: silentLogger })
  cleanups.push(() => primary.stop())
  await primary.start()
  for (const a of acked)
    expect(
      Buffer.compare(await primary.read(a.volume, a.block, 1), blockData(a.volume, a.block)),
      `${a.volume} block ${a.block}`,
    ).toBe(0)
  const lastSeq = primary.status().controllers.map((c) => c.nextSeq - 1)
  for (const a of acked) expect(a.seq).toBeLessThanOrEqual(lastSeq[a.controller] as number)

  await waitFor(
    'the producer to reach Kafka',
    () => (primary.status().kafka.state === 'connected' ? true : undefined),
    { timeoutMs: 30_000 },
  )
  const { received, stop } = await readUpdates(session.topic)
  cleanups.push(stop)
  const seen = (p: number): Set<number> =>
    new Set(received.filter((r) => r.partition === p).flatMap((r) => r.recordSet.updates.map((u) => u.seq)))
  await waitFor('every seq in Kafka', () => ([0, 1, 2].every((p) => seen(p).size === lastSeq[p]) ? true : undefined), {
    timeoutMs: 60_000,
  })
  for (const p of [0, 1, 2]) {
    let maxSeen = 0
    for (const r of received.filter((x) => x.partition === p)) {
      expect(r.recordSet.firstSeq, `partition ${p}: a gap before seq ${r.recordSet.firstSeq}`).toBeLessThanOrEqual(
        maxSeen + 1,
      )
      maxSeen = Math.max(maxSeen, r.recordSet.lastSeq)
      for (const u of r.recordSet.updates) {
        expect(Buffer.compare(u.data, blockData(u.volume, u.block)), `partition ${p} seq ${u.seq}`).toBe(0)
        const a = bySeq.get(`${p}:${u.seq}`)
        if (a)
          expect({ volume: u.volume, block: u.block, time: u.time }).toEqual({
            volume: a.volume,
            block: a.block,
            time: a.time,
          })
      }
    }
  }
  console.log(
    `producer crash test: ${acked.length} writes acknowledged over ${RUNS} SIGKILLed runs, seqs ${lastSeq.join('/')}, 0 lost`,
  )
})
