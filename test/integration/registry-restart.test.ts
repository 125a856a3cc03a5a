/**
 * The registry keeps its schemas in PostgreSQL: a schema registered before
 * a restart is served, under the same id, after it. Runs a private registry
 * (its own port and database) so the shared one is never disturbed.
 */
import { afterAll, expect, it } from 'vitest'
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry'
import pg from 'pg'
import { loadConfig } from '../../lib/config.js'
import { stackPaths } from '../../stack/paths.js'
import { registryService, startRegistry } from '../../stack/registry.js'
import { runningPid, stopService } from '../../stack/processes.js'
import { uniqueName } from '../kit/names.js'
import { freePort } from '../kit/ports.js'
import { stackInfo } from '../kit/servers.js'

const database = uniqueName('xrc_registry_test')
let stop: (() => Promise<unknown>) | undefined

afterAll(async () => {
  await stop?.()
  const client = new pg.Client({ connectionString: stackInfo().databaseUrl })
  await client.connect()
  await client.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)
  await client.end()
})

it('keeps a schema across its own restart', async () => {
  const port = await freePort()
  const config = loadConfig({
    overrides: {
      database: { url: stackInfo().databaseUrl },
      stack: { registryPort: port, registryDatabase: database },
    },
  })
  const paths = stackPaths(config)
  const svc = registryService(paths)
  stop = () => stopService(svc)
  expect(await startRegistry(config, paths, () => undefined)).toBe('started')
  const url = `http://127.0.0.1:${port}/apis/ccompat/v7`
  const schema = { type: 'record', name: 'Kept', namespace: 'xrc.test', fields: [{ name: 'n', type: 'int' }] }
  const { id } = await new SchemaRegistry({ host: url }).register(
    { type: SchemaType.AVRO, schema: JSON.stringify(schema) },
    { subject: 'kept-value' },
  )

  expect(await stopService(svc)).toBe(true)
  expect(runningPid(svc)).toBeUndefined()
  expect(await startRegistry(config, paths, () => undefined)).toBe('started')

  const res = await fetch(`${url}/schemas/ids/${id}`)
  expect(res.status).toBe(200)
  const body = (await res.json()) as { schema: string }
  expect(JSON.parse(body.schema)).toEqual(schema)
  expect(await new SchemaRegistry({ host: url }).getLatestSchemaId('kept-value')).toBe(id)
})
