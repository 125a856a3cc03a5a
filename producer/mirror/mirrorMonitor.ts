/**
 * What a primary watches while it mirrors (mirror.ts wires it): every
 * 250 ms,
 *   - the outage trigger: a send failing or hanging for
 *     resync.suspendAfterUnreachableMs suspends the session (counted from the
 *     last resume, so sends still failing from before it do not count);
 *   - auto-resume: suspended by an outage or a full sidefile, the session
 *     resumes once a quick probe finds Kafka answering and the sidefiles are
 *     at most half full (else they would fill again at once).
 * The secondary's applied state comes by itself (appliedFollower.ts).
 */
import type { Config } from '../../lib/config.js'
import { errorMessage } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import { resumesByItself, type MirrorState, type SuspendReason } from './mirrorRecord.js'

const ROUND_MS = 250

export interface MirrorMonitorOptions {
  settings: Config['resync']
  logger: Logger
  /** The mirror as it is now. */
  view(): { state: MirrorState; reason: SuspendReason | undefined; resumedAt: number; sidefilesDrained: boolean }
  stalledSince(): number | undefined
  probeKafka(): Promise<void>
  suspend(reason: SuspendReason): void
  resume(): Promise<unknown>
}

/** Runs until stop(). */
export function startMirrorMonitor(options: MirrorMonitorOptions): { stop: () => Promise<void> } {
  const { settings, logger: log } = options
  let running = true
  let wake: (() => void) | undefined
  let lastProbe = 0

  async function round(): Promise<void> {
    const now = Date.now()
    const v = options.view()
    const stalled = options.stalledSince()
    if (
      v.state !== 'suspended' &&
      settings.suspendAfterUnreachableMs > 0 &&
      stalled !== undefined &&
      now - Math.max(stalled, v.resumedAt) >= settings.suspendAfterUnreachableMs
    ) {
      options.suspend('kafka-unreachable')
    }
    if (
      options.view().state === 'suspended' &&
      resumesByItself(v.reason, settings.autoResume) &&
      now - lastProbe >= settings.probeMs &&
      v.sidefilesDrained
    ) {
      lastProbe = now
      const answers = await options.probeKafka().then(
        () => true,
        (err: unknown) => (log.debug({ err: errorMessage(err) }, 'Kafka does not answer yet'), false),
      )
      if (answers) {
        log.info({ reason: v.reason }, 'Kafka answers again: resuming')
        // a sidefile with no room for the window's begin: the next probe tries again
        await options
          .resume()
          .catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'could not resume; trying again'))
      }
    }
  }

  const loop = (async () => {
    while (running) {
      await round().catch((err: unknown) => log.error({ err }, 'mirror monitor round failed'))
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ROUND_MS)
        wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
    }
  })()

  return {
    async stop() {
      running = false
      wake?.()
      await loop
    },
  }
}
