/**
 * Prometheus metrics and the health endpoint of a service. Each service
 * makes one registry, registers its stage's metrics on it (names prefixed
 * `xrc_`), and serves GET /metrics and GET /health on its metrics port.
 */
import { createServer, type Server } from 'node:http'
import { Registry, collectDefaultMetrics } from 'prom-client'

export { Counter, Gauge, Histogram } from 'prom-client'

export function createMetricsRegistry(labels: Record<string, string>): Registry {
  const registry = new Registry()
  registry.setDefaultLabels(labels)
  collectDefaultMetrics({ register: registry, prefix: 'xrc_process_' })
  return registry
}

export interface HealthReport {
  status: 'ok' | 'degraded' | 'halted' | 'starting'
  [key: string]: unknown
}

/**
 * Serves /metrics and /health on 127.0.0.1:`port` (0 = any free port).
 * /health answers 200 for ok/starting/degraded, 503 for halted.
 */
export async function serveMetrics(options: {
  registry: Registry
  port: number
  host?: string
  health: () => HealthReport
}): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    void (async () => {
      try {
        if (req.url === '/metrics') {
          const body = await options.registry.metrics()
          res.writeHead(200, { 'content-type': options.registry.contentType })
          res.end(body)
        } else if (req.url === '/health') {
          const h = options.health()
          res.writeHead(h.status === 'halted' ? 503 : 200, { 'content-type': 'application/json' })
          res.end(JSON.stringify(h, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)))
        } else {
          res.writeHead(404).end()
        }
      } catch (err) {
        res.writeHead(500).end(String(err))
      }
    })()
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve())
  })
  const addr = server.address()
  const port = typeof addr === 'object' && addr ? addr.port : options.port
  return { server, port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}
