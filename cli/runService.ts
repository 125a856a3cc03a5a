/**
 * Runs a long-lived service until SIGTERM or SIGINT, then stops it cleanly:
 * the service's stop() finishes or aborts the work in progress (a group is
 * never half applied; the producer leaves unsent writes in its sidefile).
 * A second signal while stopping exits at once, and so does a stop that
 * takes longer than the grace period (a client still retrying a server that
 * is gone would hold it forever): exiting then is safe, since what is
 * committed is durable and what is not is redone on the next start. A
 * service that halts on its own (a fatal error) makes the process exit
 * non-zero. Once the service has stopped, the process exits (with the exit
 * code set so far), whatever handles a client library still holds.
 */
import type { Logger } from '../lib/logger.js'
import { errorMessage } from '../lib/errors.js'

export interface RunnableService {
  start(): Promise<void>
  stop(): Promise<void>
  /** Resolves when the service ends by itself (halted or fenced), with the reason. */
  done?: Promise<Error | undefined>
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

export async function runService(name: string, service: RunnableService, logger: Logger): Promise<void> {
  let stopping = false
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logger.warn({ signal }, `${name}: second signal, exiting now`)
        process.exit(130)
      }
      stopping = true
      logger.info({ signal }, `${name}: stopping`)
      setTimeout(() => {
        logger.error(
          { signal, graceMs: STOP_GRACE_MS },
          `${name}: did not stop within ${STOP_GRACE_MS} ms of the signal; exiting now (what is committed is durable, the rest is redone on the next start)`,
        )
        flushThenExit(logger, 1)
      }, STOP_GRACE_MS).unref()
      service.stop().then(resolve, (err: unknown) => {
        logger.error({ err }, `${name}: stop failed`)
        process.exitCode = 1
        resolve()
      })
    }
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
  })
  try {
    await service.start()
  } catch (err) {
    // what did start (a metrics server, clients retrying) would keep the process alive after the message
    await service
      .stop()
      .catch((stopErr: unknown) => logger.warn({ err: stopErr }, `${name}: stopping after a failed start failed too`))
    logger.flush()
    throw err
  }
  logger.info(`${name}: running`)
  const ended = service.done?.then((reason) => {
    if (stopping) return
    if (reason) {
      logger.error({ reason: errorMessage(reason) }, `${name}: ended`)
      process.exitCode = 1
    }
    stopping = true
    return service.stop()
  })
  await Promise.race([stopped, ...(ended ? [ended] : [])])
  logger.info(`${name}: stopped`)
  // Stopped means done: what is committed is durable. A client library may still hold a timer or a socket
  // (kafkajs retrying a connection to a broker that went away keeps doing so for minutes), which would keep
  // the process alive long after the service stopped; the process ends here instead, with the code set so far.
  flushThenExit(logger)
}
