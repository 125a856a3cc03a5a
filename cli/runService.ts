/**
 * Runs one pipeline stage (lib/stage.ts) as a long-lived service until
 * SIGTERM or SIGINT, then stops it cleanly: the stage's stop() finishes or
 * aborts the work in progress (a group is never half applied; the primary
 * leaves unsent writes in its sidefiles). A second signal while stopping
 * exits at once, and so does a stop that takes longer than the grace period
 * (a client still retrying a server that is gone would hold it forever):
 * exiting then is safe, since what is committed is durable and what is not
 * is redone on the next start. A stage that ends by itself (halted or
 * failed) is stopped to release what it holds and makes the process exit
 * 1, with one line naming its error code (reportEnd). Once the stage has
 * stopped, the process exits (with the exit code set so far), whatever
 * handles a client library still holds. A service started by a parent
 * with an IPC channel (cli/serviceProcess.ts) also stops when that channel
 * closes: the parent ended, however it ended.
 */
import type { Logger } from '../lib/logger.js'
import { STOPPED, endOf, reportEnd, type Stage, type StageEnd } from '../lib/stage.js'

/** What a service serves beside its stage (an HTTP API, /metrics and /health). */
export interface ServiceEndpoints {
  /** Fields of the ready line (URLs), beside service, session and pid. */
  fields: Record<string, unknown>
  close(): Promise<void>
}

export interface ServiceOptions {
  stage: Stage
  session: string
  logger: Logger
  /** Opens the endpoints before the stage starts (so /health answers 'starting' meanwhile); closed after it stopped. */
  serve?: () => Promise<ServiceEndpoints>
  /**
   * Opens the front ends that feed the stage (the primary's HTTP API and NBD exports) once it has started;
   * closed before it stops, so that their requests in progress finish through it and get their replies.
   */
  frontEnds?: () => Promise<ServiceEndpoints>
  /** More fields for the ready line, read once the stage has started. */
  announce?: () => Record<string, unknown>
}

/** How long a service may take to stop after a signal before the process exits anyway. */
export const STOP_GRACE_MS = 20_000

/**
 * Exits with `code`, else the exit code set so far, once the log is out (its destination is asynchronous); a
 * flush that never answers holds the exit 2 s at most. (process.exit(undefined) would reset the code to 0.)
 */
function flushThenExit(logger: Logger, code?: number): void {
  const exit = (): never => process.exit(code ?? process.exitCode)
  setTimeout(exit, 2000).unref()
  logger.flush(exit)
}

/** Prints the one JSON line that says the service is ready, and where it answers. */
function announceReady(fields: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ...fields, pid: process.pid })}\n`)
}

export async function runService(options: ServiceOptions): Promise<void> {
  const { stage, logger } = options
  const name = stage.name
  let requested: NodeJS.Signals | undefined
  let stopping: Promise<StageEnd> | undefined
  let frontEnds: ServiceEndpoints | undefined
  const closeFrontEnds = async (): Promise<void> => {
    await frontEnds?.close().catch((err: unknown) => logger.warn({ err }, `${name}: closing its front ends failed`))
  }
  // a stop that throws still ends the service (exit 1), even when the stage could not report its end
  const stop = (): Promise<StageEnd> =>
    (stopping ??= closeFrontEnds()
      .then(() => stage.stop())
      .then(
        () => STOPPED,
        (err: unknown) => {
          logger.error({ err }, `${name}: stop failed`)
          process.exitCode = 1
          return endOf(err)
        },
      ))
  let stoppedOnSignal!: (end: StageEnd) => void
  const signalStop = new Promise<StageEnd>((resolve) => (stoppedOnSignal = resolve))
  const onSignal = (signal: NodeJS.Signals): void => {
    if (requested !== undefined) {
      logger.warn({ signal }, `${name}: second signal, exiting now`)
      process.exit(130)
    }
    requested = signal
    logger.info({ signal }, `${name}: stopping`)
    setTimeout(() => {
      logger.error(
        { signal, graceMs: STOP_GRACE_MS },
        `${name}: did not stop within ${STOP_GRACE_MS} ms of the signal; exiting now ` +
          '(what is committed is durable, the rest is redone on the next start)',
      )
      flushThenExit(logger, 1)
    }, STOP_GRACE_MS).unref()
    void stop().then(stoppedOnSignal)
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  // started by a parent over an IPC channel (xrc demo, cli/serviceProcess.ts): the parent going away, even
  // killed, stops the service as SIGTERM does, so none is left running without it
  if (process.channel !== undefined) {
    process.channel.unref()
    process.once('disconnect', () => {
      if (requested === undefined) onSignal('SIGTERM')
    })
  }

  let endpoints: ServiceEndpoints | undefined
  try {
    endpoints = await options.serve?.()
    await stage.start()
    if (requested === undefined) frontEnds = await options.frontEnds?.()
  } catch (err) {
    // what did start (a metrics server, clients retrying) would keep the process alive after the message
    await stop()
    await endpoints
      ?.close()
      .catch((closeErr: unknown) => logger.warn({ err: closeErr }, `${name}: closing its endpoints failed`))
    logger.flush()
    throw err
  }
  if (requested === undefined) {
    announceReady({
      service: name,
      session: options.session,
      ...endpoints?.fields,
      ...frontEnds?.fields,
      ...options.announce?.(),
    })
    logger.info(`${name}: running`)
  }
  // the stage's own end when it reported one (it does at the end of stop()), else what stop() came to
  const end = await Promise.race([stage.done, signalStop])
  // ended by itself: release what it holds (its clients, a producer retrying) before the process goes
  if (requested === undefined) await stop()
  await endpoints?.close().catch((err: unknown) => logger.warn({ err }, `${name}: closing its endpoints failed`))
  const report = reportEnd(name, end)
  if (report.level === 'error') {
    logger.error({ outcome: end.outcome, ...(end.outcome !== 'stopped' ? { err: end.error } : {}) }, report.message)
  } else logger.info(report.message)
  if (report.exitCode !== 0) process.exitCode = report.exitCode
  // Stopped means done: what is committed is durable. A client library may still hold a timer or a socket
  // (kafkajs retrying a connection to a broker that went away keeps doing so for minutes), which would keep
  // the process alive long after the service stopped; the process ends here instead, with the code set so far.
  flushThenExit(logger)
}
