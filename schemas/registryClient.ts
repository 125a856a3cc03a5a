/**
 * The one way xrc talks to the schema registry, made from its connection
 * settings (config.schemaRegistry: URL, basic authentication, CA file,
 * timeout): the @kafkajs/confluent-schema-registry client that registers
 * schemas, and plain requests for what that client does not do (a schema by
 * id, a subject's compatibility, deleting a subject, a ping).
 *
 * Both go through one node:https (or node:http) agent holding the CA, and
 * both send the basic credentials and give up after the timeout. The
 * password is read from the connection object by name (it is
 * non-enumerable there) and never put in an error.
 */
import { readFileSync } from 'node:fs'
import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry'
import type { RegistryConnection } from '../lib/config.js'

export type { RegistryConnection }

/** The timeout of a request when the connection names none, ms. */
export const DEFAULT_REGISTRY_TIMEOUT_MS = 10_000

/** A registry connection from a bare URL (tests, the local stack): no credentials, Node's CAs. */
export function registryAt(url: string): RegistryConnection {
  return { url: url.replace(/\/+$/, '') }
}

const agents = new WeakMap<RegistryConnection, HttpAgent>()

/** The agent of a connection's requests: https with its CA file when it has one; one per connection. */
export function registryAgent(conn: RegistryConnection): HttpAgent {
  let agent = agents.get(conn)
  if (agent === undefined) {
    agent = conn.url.startsWith('https:')
      ? new HttpsAgent({ keepAlive: true, ...(conn.caFile !== undefined ? { ca: readFileSync(conn.caFile) } : {}) })
      : new HttpAgent({ keepAlive: true })
    agents.set(conn, agent)
  }
  return agent
}

/** A middleware of the registry client (mappersmith's, as the client's own typings name it). */
type Middleware = NonNullable<ConstructorParameters<typeof SchemaRegistry>[0]['middlewares']>[number]

/** A middleware giving every request of the registry client a timeout. */
function timeoutMiddleware(ms: number): Middleware {
  return () => ({
    prepareRequest: async (next) => (await next()).enhance({ timeout: ms }),
  })
}

/** The @kafkajs/confluent-schema-registry client of a connection: its auth, CA agent and timeout. */
export function createSchemaRegistry(conn: RegistryConnection): SchemaRegistry {
  return new SchemaRegistry({
    host: conn.url,
    agent: registryAgent(conn),
    middlewares: [timeoutMiddleware(conn.timeoutMs ?? DEFAULT_REGISTRY_TIMEOUT_MS)],
    ...(conn.username !== undefined && conn.password !== undefined
      ? { auth: { username: conn.username, password: conn.password } }
      : {}),
  })
}

/**
 * A request to `path` under the registry's URL, with the connection's
 * credentials, CA and timeout, answered as a fetch Response. Rejects when no
 * answer comes (unreachable, TLS refused, timed out); any status resolves.
 */
export function registryFetch(
  conn: RegistryConnection,
  path: string,
  init: { method?: string; body?: string; timeoutMs?: number } = {},
): Promise<Response> {
  const url = new URL(`${conn.url}${path}`)
  const timeoutMs = init.timeoutMs ?? conn.timeoutMs ?? DEFAULT_REGISTRY_TIMEOUT_MS
  const headers: Record<string, string> = { accept: 'application/vnd.schemaregistry.v1+json, application/json' }
  if (conn.username !== undefined && conn.password !== undefined)
    headers.authorization = `Basic ${Buffer.from(`${conn.username}:${conn.password}`).toString('base64')}`
  if (init.body !== undefined) headers['content-type'] = 'application/vnd.schemaregistry.v1+json'
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise<Response>((resolve, reject) => {
    const req = send(
      url,
      { method: init.method ?? 'GET', headers, agent: registryAgent(conn), timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.once('error', reject)
        res.once('end', () => {
          const body = Buffer.concat(chunks)
          const status = res.statusCode ?? 0
          // a Response takes no body with 204 or 304
          resolve(new Response(status === 204 || status === 304 ? null : body, { status }))
        })
      },
    )
    req.once('timeout', () => req.destroy(new Error(`no answer from ${conn.url} within ${timeoutMs} ms`)))
    req.once('error', reject)
    req.end(init.body)
  })
}
