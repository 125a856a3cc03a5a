/**
 * Runs a long-lived service until SIGTERM or SIGINT, then stops it cleanly:
 * the service's stop() finishes or aborts the work in progress (a group is
 * never half applied; the producer leaves unsent writes in its sidefile).
 * A second signal while stopping exits at once. A service that halts on its
 * own (a fatal error) makes the process exit non-zero.
 */
import type { Logger } from '../lib/logger.js'
import { errorMessage } from '../lib/errors.js'

export interface RunnableService {
  start(): Promise<void>
  stop(): Promise<void>
  /** Resolves when the service ends by itself (halted or fenced), with the reason. */
  done?: Promise<Error | undefined>
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
    await service.stop().catch((stopErr: unknown) => logger.warn({ err: stopErr }, `${name}: stopping after a failed start failed too`))
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
  logger.flush()
}
