/**
 * Prometheus metrics of the primary site (names `xrc_producer_*`, label
 * `controller`). Counters and histograms are updated as things happen;
 * gauges (sidefile depth, seqs, waiting writers) are read from status() when
 * scraped, so they are never stale.
 */
import { Counter, Gauge, Histogram } from '../lib/metrics.js'
import type { Registry } from 'prom-client'
import type { ControllerStatus } from './controller/index.js'

export interface ProducerMetrics {
  writes: Counter<'controller'>
  writeBytes: Counter<'controller'>
  writeErrors: Counter<'controller' | 'code'>
  writeSeconds: Histogram<'controller'>
  sidefileWaitSeconds: Histogram<'controller' | 'outcome'>
  sidefileFull: Counter<'controller'>
  recordSets: Counter<'controller' | 'kind'>
  heartbeats: Counter<'controller'>
  sentUpdates: Counter<'controller'>
  sendErrors: Counter<'controller'>
}

/** Registers the producer's metrics on `registry`; `controllers` feeds the gauges at scrape time. */
export function createProducerMetrics(
  registry: Registry,
  sources: { controllers: () => ControllerStatus[]; kafkaUnreachableSince: () => number | undefined },
): ProducerMetrics {
  const registers = [registry]
  const gauge = (name: string, help: string, pick: (s: ControllerStatus) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['controller'],
      registers,
      collect() {
        for (const s of sources.controllers()) this.set({ controller: String(s.id) }, pick(s))
      },
    })
  }
  gauge(
    'xrc_producer_sidefile_bytes',
    'Bytes held in the sidefile (written, not yet acknowledged by Kafka), headers included',
    (s) => s.sidefile.bytes,
  )
  gauge('xrc_producer_sidefile_max_bytes', 'Sidefile bound in bytes', (s) => s.sidefile.maxBytes)
  gauge('xrc_producer_sidefile_entries', 'Writes held in the sidefile', (s) => s.sidefile.entries)
  gauge('xrc_producer_sidefile_segments', 'Sidefile segment files', (s) => s.sidefile.segments)
  gauge(
    'xrc_producer_sidefile_waiting_writers',
    'Writers waiting for sidefile space now',
    (s) => s.sidefile.waitingWriters,
  )
  gauge('xrc_producer_next_seq', 'Seq the next write of the controller gets', (s) => s.nextSeq)
  gauge('xrc_producer_last_sent_seq', 'Last seq Kafka acknowledged', (s) => s.lastSentSeq)
  gauge(
    'xrc_producer_latest_time_seconds',
    'Session clock time of the latest write, seconds since the epoch',
    (s) => s.latestTime / 1e6,
  )
  new Gauge({
    name: 'xrc_producer_kafka_unreachable_seconds',
    help: 'How long Kafka has been unreachable (0 while it answers)',
    registers,
    collect() {
      const since = sources.kafkaUnreachableSince()
      this.set(since === undefined ? 0 : (Date.now() - since) / 1000)
    },
  })
  return {
    writes: new Counter({
      name: 'xrc_producer_writes_total',
      help: 'Host writes acknowledged',
      labelNames: ['controller'],
      registers,
    }),
    writeBytes: new Counter({
      name: 'xrc_producer_write_bytes_total',
      help: 'Bytes of host writes acknowledged',
      labelNames: ['controller'],
      registers,
    }),
    writeErrors: new Counter({
      name: 'xrc_producer_write_errors_total',
      help: 'Host writes refused, by error code',
      labelNames: ['controller', 'code'],
      registers,
    }),
    writeSeconds: new Histogram({
      name: 'xrc_producer_write_seconds',
      help: 'Host write latency: validation, sidefile space, durable append, volume write',
      labelNames: ['controller'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    sidefileWaitSeconds: new Histogram({
      name: 'xrc_producer_sidefile_wait_seconds',
      help: 'Time writers waited for sidefile space, by outcome (granted, full, closed)',
      labelNames: ['controller', 'outcome'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    sidefileFull: new Counter({
      name: 'xrc_producer_sidefile_full_total',
      help: 'Writes refused with XRC_SIDEFILE_FULL',
      labelNames: ['controller'],
      registers,
    }),
    recordSets: new Counter({
      name: 'xrc_producer_record_sets_total',
      help: 'Record sets Kafka acknowledged, by kind',
      labelNames: ['controller', 'kind'],
      registers,
    }),
    heartbeats: new Counter({
      name: 'xrc_producer_heartbeats_total',
      help: 'Heartbeat record sets Kafka acknowledged',
      labelNames: ['controller'],
      registers,
    }),
    sentUpdates: new Counter({
      name: 'xrc_producer_sent_updates_total',
      help: 'Updates Kafka acknowledged (resends after a restart count again)',
      labelNames: ['controller'],
      registers,
    }),
    sendErrors: new Counter({
      name: 'xrc_producer_send_errors_total',
      help: 'Failed sends to Kafka (each is retried)',
      labelNames: ['controller'],
      registers,
    }),
  }
}
