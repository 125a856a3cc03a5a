/**
 * The contract every pipeline stage passes, in the manner of Redpanda
 * Connect's shared connector tests: one suite, instantiated for the primary,
 * the mover and the applier, each through a driver that knows how to make
 * the stage, feed it numbered items and read what came out downstream. Every
 * case runs against the real broker, registry and PostgreSQL:
 *
 * 1. an ordered stream of ITEMS items in and out: every item once, each
 *    output stream in item order, contents checked by the driver;
 * 2. a stop mid-stream and a restart (a new instance) without loss or
 *    duplicates;
 * 3. a bad item set aside with its reason (the stage goes on) or halting
 *    the stage exactly as documented, with the StageEnd that says so;
 * 4. a stop while the downstream server is unreachable (a private server
 *    of the fault harness: the broker paused with SIGSTOP, so it holds its
 *    connections and answers nothing, the harder case for a bound;
 *    PostgreSQL stopped -m immediate): stop() resolves within the stage's
 *    stopBoundMs, and a restart once the server is back loses nothing.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { ErrorCode } from '../../lib/errors.js'
import { waitFor } from '../../lib/retry.js'
import { STOPPED, type Stage, type StageEnd, type StageName } from '../../lib/stage.js'
import { startPrivateKafka, startPrivatePostgres, type PrivateServer } from '../faults/harness/privateServers.js'

/** The private servers of case 4, started on first use and shared by the stages of a file (a broker is slow to start). */
const privateServers = new Map<'kafka' | 'postgres', Promise<PrivateServer>>()

function privateServer(kind: 'kafka' | 'postgres'): Promise<PrivateServer> {
  let server = privateServers.get(kind)
  if (server === undefined) {
    server = kind === 'kafka' ? startPrivateKafka() : startPrivatePostgres()
    privateServers.set(kind, server)
  }
  return server
}

/** Removes the private servers (afterAll of the file that ran the contracts). */
export async function removePrivateServers(): Promise<void> {
  const started = [...privateServers.values()]
  privateServers.clear()
  for (const s of started) await (await s).remove()
}

/** Items in each ordered stream. */
export const ITEMS = 1000

/** Where a driver's session lives: the shared stack unless a case gives a private server. */
export interface ContractServers {
  kafkaBrokers?: string[]
  databaseUrl?: string
}

/** How the stage under test is made, fed and read (one per stage: test/contract/*.test.ts). */
export interface StageDriver<S extends Stage> {
  name: StageName
  /** What sets this run of the stage apart (the Kafka client library of the primary's producer), if anything. */
  variant?: string
  /** The server the stage's output goes to: case 4 makes it unreachable. */
  downstream: 'kafka' | 'postgres'
  /** Whether items can be fed while no stage runs (its input is a topic, not the stage itself). */
  feedsWhileStopped: boolean
  /** Whether its input lives on the downstream server too (the mover's updates and journal share a broker). */
  inputOnDownstream: boolean
  /** What the stage does with a bad item, as its documentation says. */
  badItem: { expect: 'set-aside' | 'halt'; code: ErrorCode }
  /** A session of its own (topics, subjects, schema, data folder) on the given servers. */
  open(servers: ContractServers): Promise<DriverSession<S>>
}

export interface DriverSession<S extends Stage> {
  /** A new instance of the stage: a stage starts once, a restart is a new instance over the same session. */
  create(): S
  /** Feeds items [from, to), in order (through `stage` when the stage is its own input). */
  feed(stage: S | undefined, from: number, to: number): Promise<void>
  /** Feeds one bad item after those fed so far. */
  feedBad(stage: S | undefined): Promise<void>
  /** What has come out so far: ordered streams of item numbers (-1 for an item whose content is wrong). */
  output(): Promise<number[][]>
  /** The error codes of the items set aside (dead-letter reasons, refused writes). */
  setAside(): Promise<string[]>
  cleanup(): Promise<void>
}

const OUTPUT_WAIT = { timeoutMs: 90_000, intervalMs: 250 }

/** Every item of [0, n) exactly once, each stream in item order. */
export function expectExactlyOnce(streams: number[][], n: number): void {
  for (const [i, stream] of streams.entries()) {
    const unordered = stream.findIndex((item, k) => k > 0 && item <= (stream[k - 1] as number))
    expect(unordered, `stream ${i} out of order at ${unordered}: ${stream.slice(unordered - 2, unordered + 2)}`).toBe(
      -1,
    )
  }
  const all = streams.flat().sort((a, b) => a - b)
  const seen = new Map<number, number>()
  for (const item of all) seen.set(item, (seen.get(item) ?? 0) + 1)
  const missing = Array.from({ length: n }, (_, i) => i).filter((i) => !seen.has(i))
  const twice = [...seen].filter(([, count]) => count > 1).map(([item]) => item)
  const foreign = [...seen.keys()].filter((item) => item < 0 || item >= n)
  expect({ missing, twice, foreign }).toEqual({ missing: [], twice: [], foreign: [] })
}

const count = (streams: number[][]): number => streams.reduce((k, s) => k + s.length, 0)

/** Runs the contract for one stage. */
export function stageContract<S extends Stage>(driver: StageDriver<S>): void {
  describe(`stage contract: ${driver.name}${driver.variant ? ` (${driver.variant})` : ''}`, () => {
    const cleanups: (() => Promise<unknown>)[] = []
    afterEach(async () => {
      for (const c of cleanups.splice(0).reverse()) await c()
    })

    async function open(servers: ContractServers = {}): Promise<DriverSession<S>> {
      const session = await driver.open(servers)
      cleanups.push(() => session.cleanup())
      return session
    }

    /** A started instance, with its end tracked (a stage that ends by itself fails the waits at once). */
    async function started(session: DriverSession<S>): Promise<{ stage: S; end: () => StageEnd | undefined }> {
      const stage = session.create()
      let end: StageEnd | undefined
      void stage.done.then((e) => (end = e))
      cleanups.push(() => stage.stop())
      await stage.start()
      return { stage, end: () => end }
    }

    /** Waits until `n` items came out; fails at once when the stage ends by itself. */
    async function outputOf(
      session: DriverSession<S>,
      n: number,
      ended?: () => StageEnd | undefined,
    ): Promise<number[][]> {
      return waitFor(
        `${n} items out of the ${driver.name}`,
        async () => {
          const streams = await session.output()
          return count(streams) >= n ? streams : undefined
        },
        {
          ...OUTPUT_WAIT,
          abortIf: () => {
            const e = ended?.()
            return e && e.outcome !== 'stopped' ? `the ${driver.name} ended: ${JSON.stringify(e)}` : undefined
          },
        },
      )
    }

    it(`passes an ordered stream of ${ITEMS} items, each once, and ends 'stopped' when stopped (twice)`, async () => {
      const session = await open()
      const { stage, end } = await started(session)
      await session.feed(stage, 0, ITEMS)
      expectExactlyOnce(await outputOf(session, ITEMS, end), ITEMS)
      expect(end()).toBeUndefined()
      // idempotent: a second stop() while the first runs, and one after it, resolve the same way
      await Promise.all([stage.stop(), stage.stop()])
      await stage.stop()
      expect(await stage.done).toEqual(STOPPED)
      expectExactlyOnce(await session.output(), ITEMS)
    })

    it('stops mid-stream and restarts without loss or duplicates', async () => {
      const session = await open()
      const half = ITEMS / 2
      const first = await started(session)
      // a stage fed through a topic is fed while it works and while it stops
      const feeding = session.feed(first.stage, 0, half)
      if (!driver.feedsWhileStopped) await feeding
      // stop as soon as something came out: the rest is in progress or not yet read
      await outputOf(session, 1, first.end)
      await first.stage.stop()
      expect(await first.stage.done).toEqual(STOPPED)
      const atStop = count(await session.output())
      await feeding
      if (driver.feedsWhileStopped) await session.feed(undefined, half, ITEMS)
      const second = await started(session)
      if (!driver.feedsWhileStopped) await session.feed(second.stage, half, ITEMS)
      const streams = await outputOf(session, ITEMS, second.end)
      expect(atStop).toBeGreaterThan(0)
      expectExactlyOnce(streams, ITEMS)
      await second.stage.stop()
      expect(await second.stage.done).toEqual(STOPPED)
    })

    const { expect: badOutcome, code } = driver.badItem
    it(
      badOutcome === 'set-aside'
        ? `sets a bad item aside (${code}) and goes on with the stream`
        : `halts on a bad item with ${code}, having passed every item before it and none after`,
      async () => {
        const session = await open()
        const half = ITEMS / 2
        const { stage, end } = await started(session)
        await session.feed(stage, 0, half)
        await session.feedBad(stage)
        await session.feed(stage, half, ITEMS)
        if (badOutcome === 'set-aside') {
          expectExactlyOnce(await outputOf(session, ITEMS, end), ITEMS)
          expect(await session.setAside()).toEqual([code])
          expect(end()).toBeUndefined()
          await stage.stop()
          expect(await stage.done).toEqual(STOPPED)
        } else {
          const ended = await stage.done
          expect(ended).toMatchObject({ outcome: 'halted', code })
          expect(stage.health().status).toBe('halted')
          await stage.stop() // releases what it holds; the end stays the halt
          expect(await stage.done).toBe(ended)
          expectExactlyOnce(await session.output(), half)
        }
      },
    )

    describe(`with its downstream (${driver.downstream}) unreachable`, () => {
      let server: PrivateServer | undefined
      beforeAll(async () => {
        server = await privateServer(driver.downstream)
      })

      it('stops within its bound, and a restart once the server is back loses nothing', async () => {
        const down = server as PrivateServer
        const session = await open(
          driver.downstream === 'kafka' ? { kafkaBrokers: [down.address] } : { databaseUrl: down.address },
        )
        const half = ITEMS / 2
        const first = await started(session)
        await session.feed(first.stage, 0, half)
        await outputOf(session, 1, first.end)
        if (down.pause) {
          down.pause(true)
          cleanups.push(async () => down.pause?.(false)) // first of all, should the case fail while it is paused
        } else await down.crash()
        // the stage gets work it cannot finish (the primary takes writes with Kafka away: they wait in its sidefiles)
        if (!driver.inputOnDownstream) await session.feed(first.stage, half, ITEMS)
        const began = Date.now()
        await first.stage.stop()
        const stopMs = Date.now() - began
        expect(stopMs, `stop() took ${stopMs} ms, its bound is ${first.stage.stopBoundMs} ms`).toBeLessThanOrEqual(
          first.stage.stopBoundMs,
        )
        expect(await first.stage.done).toEqual(STOPPED)
        if (down.pause) down.pause(false)
        else await down.restart()
        if (driver.inputOnDownstream) await session.feed(undefined, half, ITEMS)
        const second = await started(session)
        expectExactlyOnce(await outputOf(session, ITEMS, second.end), ITEMS)
        await second.stage.stop()
        expect(await second.stage.done).toEqual(STOPPED)
      })
    })
  })
}
