/**
 * What a primary watches while it mirrors (mirror.ts wires it): every
 * 250 ms,
 *   - the outage trigger: a send failing or hanging for
 *     resync.suspendAfterUnreachableMs suspends the session (counted from the
 *     last resume, so sends still failing from before it do not count);
 *   - auto-resume: suspended by an outage or a full sidefile, the session
 *     resumes once a quick probe finds Kafka answering and the sidefiles are
 *     at most half full (else they would fill again at once);
 *   - feedback: every resync.confirmPollMs the secondary's applied
 *     consistency time, which discards older change generations.
 */
import type { Config } from '../../lib/config.js'
import { errorMessage } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import { resumesByItself, type MirrorState, type SuspendReason } from './mirrorRecord.js'
import type { SecondaryLink } from './secondaryLink.js'

const ROUND_MS = 250

export interface MirrorMonitorOptions {
  settings: Config['resync']
  link: SecondaryLink
  logger: Logger
  /** The mirror as it is now. */
  view(): { state: MirrorState; reason: SuspendReason | undefined; resumedAt: number; sidefilesDrained: boolean }
  stalledSince(): number | undefined
  probeKafka(): Promise<void>
  suspend(reason: SuspendReason): void
  resume(): Promise<unknown>
  /** The secondary applied every stream write up to `appliedTime`. */
  confirmed(appliedTime: number): void
}

/** Runs until stop(). */
export function startMirrorMonitor(options: MirrorMonitorOptions): { stop: () => Promise<void> } {
  const { settings, link, logger: log } = options
  let running = true
  let wake: (() => void) | undefined
  let lastPoll = 0
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
        // the secondary may be out of reach (it must learn of the resync first): the next probe tries again
        await options
          .resume()
          .catch((err: unknown) => log.warn({ err: errorMessage(err) }, 'could not resume; trying again'))
      }
    }
    if (now - lastPoll >= settings.confirmPollMs) {
      lastPoll = now
      try {
        const applied = await link.appliedTime()
        if (applied !== undefined) options.confirmed(applied)
      } catch (err) {
        log.debug({ err: errorMessage(err) }, 'could not read the secondary applied time')
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
