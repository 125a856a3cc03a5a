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

/**
 * A service's health. 'halted': an operator must decide; 'unavailable': it
 * rides out an outage of a server it needs, or its work is stalled (the
 * reason says which), and goes on by itself once that ends. Both answer 503.
 */
export interface HealthReport {
  status: 'ok' | 'degraded' | 'halted' | 'unavailable' | 'starting'
  [key: string]: unknown
}

/** The HTTP status of a health report: 503 for halted and unavailable, else 200. */
export function healthStatusCode(h: HealthReport): 200 | 503 {
  return h.status === 'halted' || h.status === 'unavailable' ? 503 : 200
}

/**
 * Serves /metrics and /health on 127.0.0.1:`port` (0 = any free port).
 * /health answers 200 for ok/starting/degraded, 503 for halted and unavailable (healthStatusCode).
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
          res.writeHead(healthStatusCode(h), { 'content-type': 'application/json' })
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
