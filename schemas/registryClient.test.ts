/**
 * The registry clients against a tiny local registry of our own: HTTPS with
 * a certificate made here by openssl, basic authentication checked, and a
 * path that never answers. What the test checks is what the clients send
 * and whether they trust, so a stand-in server is the honest tool here.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SchemaType } from '@kafkajs/confluent-schema-registry'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../lib/config.js'
import { selfSigned } from '../stack/certificates.js'
import { createSchemaRegistry, registryFetch } from './registryClient.js'

const PASSWORD = 'registry-secret-7f2c'
let dir: string
let caFile: string
let server: Server
let url: string
const seen: { method: string; path: string; authorization: string | undefined }[] = []

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'xrc-registry-tls-'))
  caFile = join(dir, 'cert.pem')
  const keyFile = join(dir, 'cert.key')
  // a self-signed certificate for 127.0.0.1: it is its own CA
  selfSigned(dir, 'cert', '/CN=xrc test registry', ['-addext', 'subjectAltName=IP:127.0.0.1'])
  const expected = `Basic ${Buffer.from(`xrc:${PASSWORD}`).toString('base64')}`
  server = createServer({ key: readFileSync(keyFile), cert: readFileSync(caFile) }, (req, res) => {
    seen.push({ method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization })
    if (req.url?.includes('never')) return // no answer: the timeout's case
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/vnd.schemaregistry.v1+json' })
      res.end(JSON.stringify(body))
    }
    if (req.headers.authorization !== expected) return json(401, { error_code: 401, message: 'Unauthorized' })
    if (req.method === 'POST' && req.url === '/subjects/s-value/versions') return json(200, { id: 42 })
    if (req.method === 'GET' && req.url === '/subjects') return json(200, ['s-value'])
    if (req.method === 'GET' && req.url === '/config/s-value') return json(200, { compatibilityLevel: 'BACKWARD' })
    json(404, { error_code: 40401, message: 'not found' })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
  rmSync(dir, { recursive: true, force: true })
})

/** The connection as an operator configures it: the password from the environment. */
function configured(env: Record<string, string> = {}): ReturnType<typeof loadConfig>['schemaRegistry'] {
  return loadConfig({
    env: {
      SCHEMA_REGISTRY_URL: url,
      XRC_SCHEMA_REGISTRY_USERNAME: 'xrc',
      XRC_SCHEMA_REGISTRY_PASSWORD: PASSWORD,
      XRC_SCHEMA_REGISTRY_CA_FILE: caFile,
      ...env,
    },
  }).schemaRegistry
}

const schema = { type: SchemaType.AVRO as const, schema: JSON.stringify({ type: 'record', name: 'r', fields: [] }) }

describe('the schema registry clients', () => {
  it('register over TLS with the configured CA and send the basic credentials', async () => {
    seen.length = 0
    const registry = createSchemaRegistry(configured())
    const { id } = await registry.register(schema, { subject: 's-value' })
    expect(id).toBe(42)
    expect(seen.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /config/s-value', 'POST /subjects/s-value/versions'])
    expect(seen.at(-1)).toEqual({
      method: 'POST',
      path: '/subjects/s-value/versions',
      authorization: `Basic ${Buffer.from(`xrc:${PASSWORD}`).toString('base64')}`,
    })
    const res = await registryFetch(configured(), '/subjects')
    expect({ status: res.status, body: await res.json() }).toEqual({ status: 200, body: ['s-value'] })
  })

  it('refuse a registry whose certificate the configured CAs did not sign', async () => {
    const withoutCa = loadConfig({
      env: { SCHEMA_REGISTRY_URL: url, XRC_SCHEMA_REGISTRY_USERNAME: 'xrc', XRC_SCHEMA_REGISTRY_PASSWORD: PASSWORD },
    }).schemaRegistry
    await expect(registryFetch(withoutCa, '/subjects')).rejects.toThrow(/self-signed certificate/)
    await expect(createSchemaRegistry(withoutCa).register(schema, { subject: 's-value' })).rejects.toThrow(
      /self-signed certificate/,
    )
  })

  it('get 401 with another password, and keep the password out of what they throw', async () => {
    const wrong = configured({ XRC_SCHEMA_REGISTRY_PASSWORD: 'not-the-password' })
    expect((await registryFetch(wrong, '/subjects')).status).toBe(401)
    const err = await createSchemaRegistry(wrong)
      .register(schema, { subject: 's-value' })
      .catch((e: unknown) => e)
    expect(String((err as Error).message)).toMatch(/Unauthorized/)
    expect(`${String(err)} ${JSON.stringify(err)}`).not.toContain('not-the-password')
  })

  it('give up on a request after schemaRegistry.timeoutMs', async () => {
    const conn = configured({ XRC_SCHEMA_REGISTRY_TIMEOUT_MS: '300' })
    const started = performance.now()
    await expect(registryFetch(conn, '/never')).rejects.toThrow(/no answer from .* within 300 ms/)
    expect(performance.now() - started).toBeLessThan(3000)
    const err = await createSchemaRegistry(conn)
      .register(schema, { subject: 'never-value' })
      .catch((e: unknown) => e)
    expect(String(err)).toMatch(/Timeout \(300ms\)/)
    expect(performance.now() - started).toBeLessThan(5000)
  })
})
