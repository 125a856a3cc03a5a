/**
 * Prometheus metrics of the NBD front end (names `xrc_nbd_*`, label
 * `export` = the volume), on the primary's registry. Connection gauges are
 * read from the server when scraped.
 */
import type { Registry } from 'prom-client'
import { Counter, Gauge, Histogram } from '../../lib/metrics.js'

export interface NbdMetrics {
  requests: Counter<'export' | 'command'>
  requestErrors: Counter<'export' | 'command' | 'error'>
  requestSeconds: Histogram<'export' | 'command'>
  bytesWritten: Counter<'export'>
  bytesRead: Counter<'export'>
  refused: Counter<'reason'>
  handshakeFailures: Counter<'reason'>
}

export function createNbdMetrics(
  registry: Registry,
  connections: () => { export: string; count: number }[],
): NbdMetrics {
  const registers = [registry]
  new Gauge({
    name: 'xrc_nbd_connections',
    help: 'NBD connections in the transmission phase, per export',
    labelNames: ['export'],
    registers,
    collect() {
      for (const c of connections()) this.set({ export: c.export }, c.count)
    },
  })
  return {
    requests: new Counter({
      name: 'xrc_nbd_requests_total',
      help: 'NBD requests answered, per export and command',
      labelNames: ['export', 'command'],
      registers,
    }),
    requestErrors: new Counter({
      name: 'xrc_nbd_request_errors_total',
      help: 'NBD requests answered with an error, per export, command and NBD error',
      labelNames: ['export', 'command', 'error'],
      registers,
    }),
    requestSeconds: new Histogram({
      name: 'xrc_nbd_request_seconds',
      help: 'NBD request latency, from the whole request received to its reply written',
      labelNames: ['export', 'command'],
      buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    bytesWritten: new Counter({
      name: 'xrc_nbd_write_bytes_total',
      help: 'Bytes written through NBD (WRITE payloads, and zeroed by WRITE_ZEROES and TRIM)',
      labelNames: ['export'],
      registers,
    }),
    bytesRead: new Counter({
      name: 'xrc_nbd_read_bytes_total',
      help: 'Bytes read through NBD',
      labelNames: ['export'],
      registers,
    }),
    refused: new Counter({
      name: 'xrc_nbd_connections_refused_total',
      help: 'NBD connections closed at once because nbd.maxConnections were open',
      labelNames: ['reason'],
      registers,
    }),
    handshakeFailures: new Counter({
      name: 'xrc_nbd_handshake_failures_total',
      help: 'NBD connections closed during the handshake, by reason (malformed, timeout, unknown export)',
      labelNames: ['reason'],
      registers,
    }),
  }
}
