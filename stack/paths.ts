import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Config } from '../lib/config.js'

/** The repository root (this file sits in stack/ or dist/stack/). */
export const REPO_ROOT = (() => {
  const here = dirname(fileURLToPath(import.meta.url))
  return here.includes(`${join('dist', 'stack')}`) ? resolve(here, '..', '..') : resolve(here, '..')
})()

export const POM = join(REPO_ROOT, 'stack', 'pom.xml')

/** Versions pinned in the pom: the single source of truth. */
export function stackVersions(): { kafka: string; apicurio: string } {
  const pom = readFileSync(POM, 'utf8')
  const get = (prop: string): string => {
    const m = new RegExp(`<${prop}>([^<]+)</${prop}>`).exec(pom)
    if (!m?.[1]) throw new Error(`stack/pom.xml has no <${prop}>`)
    return m[1]
  }
  return { kafka: get('kafka.version'), apicurio: get('apicurio.version') }
}

/** The files of one Kafka node under a stack folder, named by its client port. */
export interface KafkaNodeFiles {
  dataDir: string
  configFile: string
  logFile: string
  pidFile: string
}

/** Where the node of client port `port` keeps its data, config, log and PID file under `root`. */
export function kafkaNodeFiles(root: string, kafkaVersion: string, port: number): KafkaNodeFiles {
  return {
    dataDir: join(root, 'data', `kafka-${kafkaVersion}-${port}`),
    configFile: join(root, 'data', `server-${port}.properties`),
    logFile: join(root, 'logs', `kafka-${port}.log`),
    pidFile: join(root, 'run', `kafka-${port}.pid`),
  }
}

export interface StackPaths {
  root: string
  kafkaLibs: string
  apicurioHome: string
  downloads: string
  kafkaData: string
  kafkaConfig: string
  kafkaLog: string
  kafkaPid: string
  registryLog: string
  registryPid: string
}

/**
 * Where things are. Jars are shared by every instance; data, logs and PID
 * files are named by port (each node of a local cluster too), so a test can run a private broker or registry
 * (its own ports) beside the shared one without touching it.
 */
export function stackPaths(config: Config): StackPaths {
  const root = resolve(REPO_ROOT, config.stack.dir)
  const v = stackVersions()
  const { kafkaPort: kp, registryPort: rp } = config.stack
  const broker = kafkaNodeFiles(root, v.kafka, kp)
  return {
    root,
    kafkaLibs: join(root, `kafka-${v.kafka}`, 'libs'),
    apicurioHome: join(root, `apicurio-${v.apicurio}`),
    downloads: join(root, 'downloads'),
    kafkaData: broker.dataDir,
    kafkaConfig: broker.configFile,
    kafkaLog: broker.logFile,
    kafkaPid: broker.pidFile,
    registryLog: join(root, 'logs', `registry-${rp}.log`),
    registryPid: join(root, 'run', `registry-${rp}.pid`),
  }
}
