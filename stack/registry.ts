/**
 * The local schema registry: Apicurio Registry 3 (Quarkus) from Maven
 * Central, its storage in the local PostgreSQL so schemas survive restarts.
 * Clients use its Confluent-compatible API at /apis/ccompat/v7.
 */
import type { Config } from '../lib/config.js'
import { XrcError } from '../lib/errors.js'
import { waitFor } from '../lib/retry.js'
import { findRegistryJar } from './install.js'
import type { StackPaths } from './paths.js'
import { ensureDatabase, withDatabase } from './postgres.js'
import { runningPid, startDetached, tailLog, type ServiceProcess } from './processes.js'

export function registryService(paths: StackPaths): ServiceProcess {
  return { name: 'registry', pidFile: paths.registryPid, logFile: paths.registryLog, marker: 'apicurio' }
}

export function localRegistryUrl(config: Config): string {
  return `http://127.0.0.1:${config.stack.registryPort}/apis/ccompat/v7`
}

/** GET /subjects on the ccompat API; throws unless it answers 200. */
export async function pingRegistry(url: string, timeoutMs = 3000): Promise<void> {
  const res = await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(timeoutMs) })
  if (res.status !== 200) throw new Error(`GET ${url}/subjects answered ${res.status}`)
}

function jdbcUrl(databaseUrl: string, database: string): { url: string; user: string; password: string } {
  const u = new URL(withDatabase(databaseUrl, database))
  return {
    url: `jdbc:postgresql://${u.hostname}:${u.port || '5432'}/${database}`,
    user: decodeURIComponent(u.username || 'postgres'),
    password: decodeURIComponent(u.password || 'postgres'),
  }
}

export async function startRegistry(
  config: Config,
  paths: StackPaths,
  say: (line: string) => void,
): Promise<'started' | 'running' | 'external'> {
  const svc = registryService(paths)
  const url = localRegistryUrl(config)
  if (runningPid(svc) !== undefined) {
    await waitForRegistry(config, paths, url)
    return 'running'
  }
  if (
    await pingRegistry(url, 1500).then(
      () => true,
      () => false,
    )
  )
    return 'external'
  const jar = findRegistryJar(paths.apicurioHome)
  if (jar === undefined)
    throw new XrcError('XRC_STACK_START_FAILED', { reason: 'noRegistryJar', dir: paths.apicurioHome })
  await ensureDatabase(config.database.url, config.stack.registryDatabase)
  const db = jdbcUrl(config.database.url, config.stack.registryDatabase)
  say(`starting schema registry on 127.0.0.1:${config.stack.registryPort} (log: ${paths.registryLog})`)
  const props = {
    'quarkus.http.host': '127.0.0.1',
    'quarkus.http.port': String(config.stack.registryPort),
    'quarkus.management.port': String(config.stack.registryPort + 1000),
    'quarkus.management.host': '127.0.0.1',
    'apicurio.storage.kind': 'sql',
    'apicurio.storage.sql.kind': 'postgresql',
    'apicurio.datasource.url': db.url,
    'apicurio.datasource.username': db.user,
    'apicurio.ccompat.max-subjects': '1000000',
    'quarkus.log.level': 'WARN',
    'quarkus.log.category."io.apicurio".level': 'INFO',
  }
  // the password goes through the environment, never the command line
  const env = { ...process.env, APICURIO_DATASOURCE_PASSWORD: db.password }
  startDetached(
    svc,
    'java',
    [`-Xmx${config.stack.registryHeapMb}m`, ...Object.entries(props).map(([k, v]) => `-D${k}=${v}`), '-jar', jar],
    env,
  )
  await waitForRegistry(config, paths, url)
  return 'started'
}

async function waitForRegistry(config: Config, paths: StackPaths, url: string): Promise<void> {
  const svc = registryService(paths)
  try {
    await waitFor(
      'the schema registry to answer',
      async () => {
        await pingRegistry(url)
        return true
      },
      {
        timeoutMs: config.stack.startTimeoutMs,
        intervalMs: 500,
        abortIf: () => (runningPid(svc) === undefined ? 'the registry process exited' : undefined),
      },
    )
  } catch (err) {
    throw new XrcError('XRC_STACK_START_FAILED', {
      reason: 'notStarted',
      service: 'schema registry',
      log: paths.registryLog,
      tail: tailLog(paths.registryLog),
      cause: err,
    })
  }
}
