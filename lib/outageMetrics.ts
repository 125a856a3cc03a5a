/**
 * An outage's metrics, the same for every stage that rides outages out
 * (names prefixed xrc_<stage>_): whether one is in progress and of which
 * server, how long it has lasted, and the retries per server.
 */
import { Counter, Gauge, type Registry } from 'prom-client'
import { OUTAGE_SOURCES, type Outage, type OutageSource } from './outage.js'

export interface OutageMetrics {
  /** Counts one failed attempt of an outage of `source`. */
  retried(source: OutageSource): void
}

/** Registers the outage metrics of `stage`; the gauges read `current()` at scrape time. */
export function createOutageMetrics(
  registry: Registry,
  stage: 'mover' | 'applier',
  current: () => Outage | undefined,
): OutageMetrics {
  const registers = [registry]
  new Gauge({
    name: `xrc_${stage}_outage`,
    help: `1 while the ${stage} rides out an outage of the server named by the source label (retrying with backoff)`,
    labelNames: ['source'],
    registers,
    collect() {
      const outage = current()
      for (const source of OUTAGE_SOURCES) this.set({ source }, outage?.source === source ? 1 : 0)
    },
  })
  new Gauge({
    name: `xrc_${stage}_outage_seconds`,
    help: `How long the outage the ${stage} rides out has lasted, seconds; 0: none`,
    registers,
    collect() {
      const outage = current()
      this.set(outage === undefined ? 0 : Math.max(0, (Date.now() - outage.since) / 1000))
    },
  })
  const retries = new Counter({
    name: `xrc_${stage}_retries_total`,
    help: `Attempts of the ${stage} that failed during an outage and were retried, by server`,
    labelNames: ['source'],
    registers,
  })
  return { retried: (source) => retries.inc({ source }) }
}
