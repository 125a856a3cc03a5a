/**
 * `xrc stack up | down | status`: the real local services without Docker.
 * Kafka and the schema registry are jars from Maven Central run as local
 * processes; PostgreSQL is the machine's server at DATABASE_URL.
 */
import { join } from 'node:path'
import type { Config } from '../lib/config.js'
import { redactUrl } from '../lib/config.js'
import { installStack } from './install.js'
import {
  kafkaNodeService,
  localKafka,
  nodeAddresses,
  pingKafka,
  setupConnection,
  startKafkaSetup,
  type KafkaSetup,
} from './kafka.js'
import { stackPaths, stackVersions } from './paths.js'
import { checkPostgres } from './postgres.js'
import { localRegistryUrl, pingRegistry, registryService, startRegistry } from './registry.js'
import { runningPid, stopService } from './processes.js'
import { grantStageAcls, secureDir, secureKafka } from './secureKafka.js'

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

export interface StackOptions {
  /** `up` starts the secured broker too (stack.securePort: SASL_SSL, SCRAM, ACLs for config.session.name). */
  secure?: boolean
}

export function createStack(config: Config, options: StackOptions = {}): Stack {
  const paths = stackPaths(config)
  // the secured broker, once made (its files exist): `status` lists it while it runs, `down` stops it
  const secured = (): KafkaSetup | undefined => secureKafka(config, paths, false)
  const versions = stackVersions()
  const kafka = localKafka(config, paths)
  // the other layout: `down` stops it too, and `status` lists it while a node of it runs
  const other = localKafka(
    { ...config, stack: { ...config.stack, brokers: config.stack.brokers === 1 ? 3 : 1 } },
    paths,
  )
  const registryUrl = localRegistryUrl(config)

  async function status(): Promise<ServiceStatus[]> {
    const pg = await checkPostgres(config.database.url, 3000).then(
      (v) => ({ state: 'up' as const, detail: `PostgreSQL ${v}` }),
      (e: Error) => ({ state: 'down' as const, detail: e.message }),
    )
    const otherRuns = other.nodes.some((n) => runningPid(kafkaNodeService(n)) !== undefined)
    const secure = secured()
    const secureRuns = secure?.nodes.some((n) => runningPid(kafkaNodeService(n)) !== undefined) === true
    const kafkas = await Promise.all(
      [kafka, ...(otherRuns ? [other] : []), ...(secure && secureRuns ? [secure] : [])].map((k) =>
        kafkaStatus(k, versions.kafka),
      ),
    )
    const rPid = runningPid(registryService(paths))
    const r = await pingRegistry(registryUrl, 2000).then(
      () => ({ state: 'up' as const, detail: `Apicurio Registry ${versions.apicurio}` }),
      (e: Error) => ({ state: 'down' as const, detail: e.message }),
    )
    return [
      { name: 'postgres', ...pg, managed: false, address: redactUrl(config.database.url) },
      ...kafkas.flat(),
      { name: 'registry', ...r, managed: rPid !== undefined, ...(rPid ? { pid: rPid } : {}), address: registryUrl },
    ]
  }

  return {
    status,
    async up(say = () => undefined) {
      const started = Date.now()
      await checkPostgres(config.database.url)
      await installStack(paths, say)
      const secure = options.secure ? secureKafka(config, paths, true) : undefined
      // Kafka and the registry start in parallel: each JVM takes seconds.
      const [k, r, sk] = await Promise.all([
        startKafkaSetup(kafka, say),
        startRegistry(config, paths, say),
        secure === undefined ? undefined : startKafkaSetup(secure, say),
      ])
      const word = (s: string): string =>
        s === 'started' ? 'started' : s === 'running' ? 'already up' : 'already up (not started by this stack)'
      say(`postgres: up at ${redactUrl(config.database.url)}`)
      say(`kafka: ${word(k)} at ${nodeAddresses(kafka).join(',')}`)
      if (kafka.nodes.length > 1) say(`clients: export KAFKA_BROKERS=${nodeAddresses(kafka).join(',')}`)
      say(`registry: ${word(r)} at ${registryUrl}`)
      if (secure !== undefined && sk !== undefined) {
        await grantStageAcls(setupConnection(secure), config.session.name)
        const dir = secureDir(paths)
        say(`kafka (secured: SASL_SSL, SCRAM-SHA-512, ACLs): ${word(sk)} at ${nodeAddresses(secure).join(',')}`)
        say(`  users xrc-primary, xrc-mover, xrc-applier, each granted its ACLs for session ${config.session.name}`)
        say(`  a stage's settings: set -a; . ${join(dir, 'xrc-mover.env')}; set +a   (CA: ${join(dir, 'ca.pem')})`)
      }
      if (k !== 'started' && r !== 'started' && sk !== 'started') say('everything is already up')
      say(`stack up in ${((Date.now() - started) / 1000).toFixed(1)} s`)
      return status()
    },
    async down(say = () => undefined) {
      // registry first: it holds no Kafka state, and stops faster
      const nodes = [...kafka.nodes, ...other.nodes, ...(secured()?.nodes ?? [])].map(kafkaNodeService)
      for (const svc of [registryService(paths), ...nodes]) {
        const stopped = await stopService(svc)
        const ours = kafka.nodes.some((n) => n.pidFile === svc.pidFile) || svc.name === 'registry'
        if (ours || stopped) say(`${svc.name}: ${stopped ? 'stopped' : 'was not running (nothing to stop)'}`)
      }
    },
  }
}

/**
 * One line per node: up when it answers and the cluster sees every node
 * (a node that runs but is not a registered broker is down).
 */
async function kafkaStatus(setup: KafkaSetup, version: string): Promise<ServiceStatus[]> {
  const all = setup.nodes.length
  return Promise.all(
    setup.nodes.map(async (node) => {
      const pid = runningPid(kafkaNodeService(node))
      // the secured broker answers its admin only; sasl is passed whole (its password is not enumerable)
      const { tls, sasl } = setupConnection(setup)
      const state = await pingKafka({ brokers: [`${node.host}:${node.port}`], tls, sasl }, 2000).then(
        (brokers) => ({
          state: 'up' as const,
          detail:
            all === 1
              ? `Apache Kafka ${version} (KRaft${setup.security ? ', SASL_SSL' : ''})`
              : `Apache Kafka ${version} (KRaft), node ${node.nodeId} of ${all}, ${brokers} brokers registered`,
        }),
        (e: Error) => ({ state: 'down' as const, detail: e.message }),
      )
      return {
        name: 'kafka' as const,
        ...state,
        managed: pid !== undefined,
        ...(pid ? { pid } : {}),
        address: `${node.host}:${node.port}`,
      }
    }),
  )
}
