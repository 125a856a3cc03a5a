/**
 * The mover's answer to /health, pure, from its status: 'halted' (503) for
 * a halt and for a frozen controller (the session needs an operator even
 * though the mover runs), 'unavailable' (503) while it rides out an outage
 * of Kafka or the registry (the reason names the server, how long and the
 * last error), 'degraded' while it restarts its pipeline.
 */
import type { HealthReport } from '../lib/metrics.js'
import { frozenMessage } from './intake/index.js'
import type { MoverStatus } from './moverApi.js'

export function moverHealth(s: MoverStatus): HealthReport {
  if (!s.halt && s.frozen.length === 0 && s.outage !== undefined && s.state !== 'stopped')
    return { ...s, status: 'unavailable', reason: s.outage.reason }
  const status =
    s.halt || s.frozen.length > 0
      ? 'halted'
      : s.state === 'running'
        ? 'ok'
        : s.state === 'recovering'
          ? 'degraded'
          : 'starting'
  const reason = s.halt ? `${s.halt.code}: ${s.halt.message}` : s.frozen.map((f) => frozenMessage(f)).join('; ')
  return { ...s, status, ...(reason ? { reason } : {}) }
}
