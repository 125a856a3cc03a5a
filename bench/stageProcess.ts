/**
 * One pipeline stage in a process of its own, forked by the bench (see
 * protocol.ts): the primary (with the load generator inside it, so a host
 * write is a function call), the mover, or the applier (reporting each
 * group it commits). It is a composition root: it takes its configuration
 * from the parent's start message, never from the environment.
 */
// first: kafkajs must find the native CRC-32C when it loads (lib/kafka/client/kafkaCrc.ts)
import '../lib/kafka/client/kafkaCrc.js'
import '../lib/unfilledBuffers.js'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createApplier } from '../applier/index.js'
import { loadConfig, type Config } from '../lib/config.js'
import { XrcError, errorMessage } from '../lib/errors.js'
import { createLogger, type Logger } from '../lib/logger.js'
import { reportEnd, type Stage } from '../lib/stage.js'
import { waitFor } from '../lib/retry.js'
import { createMover } from '../mover/index.js'
import { createPrimary, startHttpApi, type HttpApi } from '../producer/index.js'
import { openBaselineFiles } from './baselineFiles.js'
import { writeRanges } from './failover/blockRanges.js'
import { createWorkload, runLoad, type CommitFeed } from './loadGenerator.js'
import {
  nowMs,
  type ChildMessage,
  type LoadResult,
  type ParentMessage,
  type StageName,
  type StageRequest,
} from './protocol.js'

/** A started stage (its lifecycle: lib/stage.ts) and the requests it takes from the parent. */
interface HostedStage {
  stage: Stage
  handle(request: StageRequest): Promise<unknown>
}

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) return resolve()
    process.send?.(message, undefined, {}, () => resolve())
  })
}

/** Runs `load` while watching the event loop's delay, and adds it to the result. */
async function withLoopDelay(load: () => Promise<LoadResult>): Promise<LoadResult> {
  const h = monitorEventLoopDelay({ resolution: 5 })
  h.enable()
  try {
    const result = await load()
    const ms = (ns: number): number => Math.round(ns / 1e4) / 100
    return { ...result, loopDelay: { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) } }
  } finally {
    h.disable()
  }
}

function unsupported(stage: StageName, request: StageRequest): never {
  throw new XrcError('XRC_USAGE', { reason: 'stageOp', stage, op: request.op })
}

/** The latest committed consistency time, pushed by the parent during windowed loads. */
function createCommitFeed(): CommitFeed & { set(time: number): void } {
  let committed = Number.NEGATIVE_INFINITY
  const listeners = new Set<() => void>()
  return {
    committedTime: () => committed,
    onCommitted(listener) {
      listeners.add(listener)
      return () => void listeners.delete(listener)
    },
    set(time) {
      if (time <= committed) return
      committed = time
      for (const l of listeners) l()
    },
  }
}

async function primaryStage(config: Config, logger: Logger, feed: CommitFeed): Promise<HostedStage> {
  const primary = createPrimary({ config, logger })
  await primary.start()
  // start() returns while the sender connects in the background; a load must not begin before Kafka answers
  await waitFor('the primary to reach Kafka', () => (primary.status().kafka.state === 'connected' ? true : undefined), {
    timeoutMs: 60_000,
    intervalMs: 50,
  })
  const volumes = config.session.controllers.flatMap((c) => c.volumes)
  const workloadFor = (seed: number): ReturnType<typeof createWorkload> =>
    createWorkload({ controllers: config.session.controllers, blockSize: config.session.blockSize, seed })
  // started on first ask only: the pipeline's own phases never have it listening
  let api: Promise<HttpApi> | undefined
  return {
    stage: primary,
    async handle(request) {
      if (request.op === 'api') {
        api ??= startHttpApi({ primary, port: 0, host: '127.0.0.1', logger })
        return { url: (await api).url }
      }
      if (request.op === 'writeRanges')
        return writeRanges(async (r, data) => (await primary.write({ volume: r.volume, block: r.first, data })).time, {
          ...request,
          blockSize: config.session.blockSize,
        })
      if (request.op === 'load') {
        const workload = workloadFor(request.seed)
        return withLoopDelay(() =>
          runLoad(
            request.spec,
            async (i) => {
              const { volume, block } = workload.target(i)
              return (await primary.write({ volume, block, data: workload.data(i) })).time
            },
            feed,
          ),
        )
      }
      if (request.op === 'baseline') {
        const workload = workloadFor(request.seed)
        // beside the volume files: the same file system and disk
        const files = await openBaselineFiles({
          dir: join(config.session.dataDir, config.session.name, 'baseline'),
          volumes,
          blockSize: config.session.blockSize,
          workload,
        })
        try {
          return await withLoopDelay(() => runLoad(request.spec, files.write))
        } finally {
          await files.close()
        }
      }
      return unsupported('primary', request)
    },
  }
}

async function moverStage(config: Config, logger: Logger): Promise<HostedStage> {
  // the journal writer's hooks time each group's transaction, so the report can split RPO at the journal
  const sent = new Map<number, number>()
  const mover = createMover({
    config,
    logger,
    hooks: {
      beforeCommit: (g) => void sent.set(g.groupSeq, nowMs()),
      afterCommit: (g) => {
        const sentMs = sent.get(g.groupSeq) ?? Number.NaN
        sent.delete(g.groupSeq)
        void send({
          kind: 'journaled',
          groupSeq: g.groupSeq,
          groupTime: g.groupTime,
          sentMs,
          commitMs: nowMs(),
          updates: g.updates.length,
        })
      },
    },
  })
  await mover.start()
  return {
    stage: mover,
    async handle(request) {
      if (request.op !== 'status') return unsupported('mover', request)
      const s = mover.status()
      return { groupSeq: s.groupSeq, groupTime: s.groupTime ?? 0, state: s.state }
    },
  }
}

async function applierStage(config: Config, logger: Logger): Promise<HostedStage> {
  const applier = createApplier({
    config,
    logger,
    // onGroup runs after the group's transaction committed: that moment is when its writes are mirrored
    onGroup: (e) => {
      if (e.outcome === 'applied')
        void send({
          kind: 'group',
          groupSeq: e.groupSeq,
          groupTime: e.groupTime,
          commitMs: nowMs(),
          updates: e.updates,
        })
    },
  })
  await applier.start()
  return {
    stage: applier,
    handle: (request) => Promise.resolve(unsupported('applier', request)),
  }
}

async function main(): Promise<void> {
  if (process.send === undefined) throw new XrcError('XRC_USAGE', { reason: 'stageNotForked' })
  const feed = createCommitFeed()
  let stopping = false
  const first = await new Promise<ParentMessage>((resolve) =>
    process.once('message', (m) => resolve(m as ParentMessage)),
  )
  if (first.kind !== 'start') throw new XrcError('XRC_USAGE', { reason: 'stageFirstMessage', kind: first.kind })
  // the parent resolved the configuration (it is the composition root); validate it again here
  const config = loadConfig({ overrides: JSON.parse(JSON.stringify(first.config)) as Record<string, unknown> })
  const logger = createLogger({ level: config.log.level, name: `xrc-bench-${first.stage}` }).child({
    session: config.session.name,
  })

  // the parent sends requests only after 'ready', so the stage exists before this listener runs
  const hosted =
    first.stage === 'primary'
      ? await primaryStage(config, logger, feed)
      : first.stage === 'mover'
        ? await moverStage(config, logger)
        : await applierStage(config, logger)
  process.on('message', (raw) => {
    const m = raw as ParentMessage
    if (m.kind === 'committed') return feed.set(m.groupTime)
    if (m.kind !== 'request') return
    const body = m.body
    const work =
      body.op === 'stop' ? ((stopping = true), hosted.stage.stop().then(() => undefined)) : hosted.handle(body)
    work.then(
      (value) =>
        send({ kind: 'reply', id: m.id, ok: true, value }).then(() => {
          if (body.op === 'stop') process.exit(0)
        }),
      (err: unknown) => send({ kind: 'reply', id: m.id, ok: false, error: errorMessage(err) }),
    )
  })

  void hosted.stage.done.then((end) => {
    if (end.outcome === 'stopped' || stopping) return
    void send({ kind: 'ended', error: reportEnd(first.stage, end).message })
    // release what the stage holds; the parent fails the run and stops this process
    void hosted.stage.stop().catch(() => undefined)
  })
  await send({ kind: 'ready', pid: process.pid })
}

// the parent going away (it failed or was killed) must not leave this stage running
process.on('disconnect', () => process.exit(1))

main().catch(async (err: unknown) => {
  process.stderr.write(`bench stage failed: ${errorMessage(err)}\n`)
  await send({ kind: 'ended', error: errorMessage(err) })
  process.exit(1)
})
