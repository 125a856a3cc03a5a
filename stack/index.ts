/**
 * `xrc stack up | down | status`: the real local services without Docker.
 * Kafka and the schema registry are jars from Maven Central run as local
 * processes; PostgreSQL is the machine's server at DATABASE_URL.
 */
import type { Config } from '../lib/config.js'
import { redactUrl } from '../lib/config.js'
import { installStack } from './install.js'
import { kafkaService, pingKafka, startKafka } from './kafka.js'
import { stackPaths, stackVersions } from './paths.js'
import { checkPostgres } from './postgres.js'
import { localRegistryUrl, pingRegistry, registryService, startRegistry } from './registry.js'
import { runningPid, stopService } from './processes.js'

export interface ServiceStatus {
  name: 'postgres' | 'kafka' | 'registry'
  /** up: answering; down: not answering. */
  state: 'up' | 'down'
  /** Whether this stack folder started it (and `down` will stop it). */
  managed: boolean
  pid?: number
  address: string
  detail?: string
}

export interface Stack {
  up(say?: (line: string) => void): Promise<ServiceStatus[]>
  down(say?: (line: string) => void): Promise<void>
  status(): Promise<ServiceStatus[]>
}

export function createStack(config: Config): Stack {
  const paths = stackPaths(config)
  const versions = stackVersions()
  const kafkaAddr = `127.0.0.1:${config.stack.kafkaPort}`
  const registryUrl = localRegistryUrl(config)

  async function status(): Promise<ServiceStatus[]> {
    const pg = await checkPostgres(config.database.url, 3000).then(
      (v) => ({ state: 'up' as const, detail: `PostgreSQL ${v}` }),
      (e: Error) => ({ state: 'down' as const, detail: e.message }),
    )
    const kPid = runningPid(kafkaService(paths))
    const k = await pingKafka([kafkaAddr], 2000).then(
      () => ({ state: 'up' as const, detail: `Apache Kafka ${versions.kafka} (KRaft)` }),
      (e: Error) => ({ state: 'down' as const, detail: e.message }),
    )
    const rPid = runningPid(registryService(paths))
    const r = await pingRegistry(registryUrl, 2000).then(
      () => ({ state: 'up' as const, detail: `Apicurio Registry ${versions.apicurio}` }),
      (e: Error) => ({ state: 'down' as const, detail: e.message }),
    )
    return [
      { name: 'postgres', ...pg, managed: false, address: redactUrl(config.database.url) },
      { name: 'kafka', ...k, managed: kPid !== undefined, ...(kPid ? { pid: kPid } : {}), address: kafkaAddr },
      { name: 'registry', ...r, managed: rPid !== undefined, ...(rPid ? { pid: rPid } : {}), address: registryUrl },
    ]
  }

  return {
    status,
    async up(say = () => undefined) {
      const started = Date.now()
      await checkPostgres(config.database.url)
      await installStack(paths, say)
      // Kafka and the registry start in parallel: each JVM takes seconds.
      const [k, r] = await Promise.all([startKafka(config, paths, say), startRegistry(config, paths, say)])
      const word = (s: string): string =>
        s === 'started' ? 'started' : s === 'running' ? 'already up' : 'already up (not started by this stack)'
      say(`postgres: up at ${redactUrl(config.database.url)}`)
      say(`kafka: ${word(k)} at ${kafkaAddr}`)
      say(`registry: ${word(r)} at ${registryUrl}`)
      if (k !== 'started' && r !== 'started') say('everything is already up')
      say(`stack up in ${((Date.now() - started) / 1000).toFixed(1)} s`)
      return status()
    },
    async down(say = () => undefined) {
      // registry first: it holds no Kafka state, and stops faster
      for (const svc of [registryService(paths), kafkaService(paths)]) {
        const stopped = await stopService(svc)
        say(`${svc.name}: ${stopped ? 'stopped' : 'was not running (nothing to stop)'}`)
      }
    },
  }
}
