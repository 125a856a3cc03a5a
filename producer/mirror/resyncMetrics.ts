/**
 * Prometheus metrics of suspend and resync on the primary (names
 * `xrc_producer_mirror_*`, `xrc_producer_resync_*`, `xrc_producer_changed_*`).
 * Gauges read the mirror's status when scraped, so they are never stale.
 */
import type { Registry } from 'prom-client'
import { Counter, Gauge } from '../../lib/metrics.js'
import type { MirrorStatus } from './mirror.js'

export interface ResyncMetrics {
  suspensions: Counter<'reason'>
  resyncBlocks: Counter<'controller'>
  resyncBytes: Counter<'controller'>
}

/** Registers the metrics on `registry`; `status` feeds the gauges at scrape time. */
export function createResyncMetrics(registry: Registry, status: () => MirrorStatus): ResyncMetrics {
  const registers = [registry]
  const gauge = (name: string, help: string, pick: (s: MirrorStatus) => number | undefined): void => {
    new Gauge({
      name,
      help,
      registers,
      collect() {
        const v = pick(status())
        if (v !== undefined) this.set(v)
      },
    })
  }
  new Gauge({
    name: 'xrc_producer_mirror_state',
    help: 'Mirroring state of this primary: 1 for the current one of duplex, suspended, resyncing',
    labelNames: ['state'],
    registers,
    collect() {
      const now = status().state
      for (const s of ['duplex', 'suspended', 'resyncing']) this.set({ state: s }, s === now ? 1 : 0)
    },
  })
  gauge(
    'xrc_producer_mirror_marked_writes',
    'Writes acknowledged while suspended (marked for resync, not sent) since start',
    (s) => s.markedWrites,
  )
  gauge('xrc_producer_resync_blocks_remaining', 'Blocks marked for resync and not yet sent', (s) => s.changes.pending)
  gauge(
    'xrc_producer_resync_blocks_per_second',
    'Resync rate over the last seconds, blocks per second',
    (s) => s.resync?.blocksPerSecond ?? 0,
  )
  gauge(
    'xrc_producer_resync_eta_seconds',
    'Seconds the running resync needs at its current rate (absent while unknown)',
    (s) => (s.state === 'resyncing' ? s.resync?.etaSeconds : 0),
  )
  new Gauge({
    name: 'xrc_producer_changed_blocks',
    help:
      'Blocks named by the change bitmaps: pending = marked for resync; older, newer = the change-management ' +
      'generations not yet confirmed applied',
    labelNames: ['bitmap'],
    registers,
    collect() {
      const c = status().changes
      this.set({ bitmap: 'pending' }, c.pending)
      this.set({ bitmap: 'older' }, c.older)
      this.set({ bitmap: 'newer' }, c.newer)
    },
  })
  gauge(
    'xrc_producer_confirmed_time_seconds',
    "The secondary's applied consistency time at the last poll, seconds since the epoch",
    (s) => (s.confirmedTime === undefined ? undefined : s.confirmedTime / 1e6),
  )
  return {
    suspensions: new Counter({
      name: 'xrc_producer_mirror_suspensions_total',
      help: 'Suspensions, by reason',
      labelNames: ['reason'],
      registers,
    }),
    resyncBlocks: new Counter({
      name: 'xrc_producer_resync_blocks_total',
      help: 'Blocks a resync appended to the sidefile (durable) as RESYNC records',
      labelNames: ['controller'],
      registers,
    }),
    resyncBytes: new Counter({
      name: 'xrc_producer_resync_bytes_total',
      help: 'Bytes of RESYNC records Kafka acknowledged (value, key and headers)',
      labelNames: ['controller'],
      registers,
    }),
  }
}
