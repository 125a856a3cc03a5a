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
 * files are named by port, so a test can run a private broker or registry
 * (its own ports) beside the shared one without touching it.
 */
export function stackPaths(config: Config): StackPaths {
  const root = resolve(REPO_ROOT, config.stack.dir)
  const v = stackVersions()
  const { kafkaPort: kp, registryPort: rp } = config.stack
  return {
    root,
    kafkaLibs: join(root, `kafka-${v.kafka}`, 'libs'),
    apicurioHome: join(root, `apicurio-${v.apicurio}`),
    downloads: join(root, 'downloads'),
    kafkaData: join(root, 'data', `kafka-${v.kafka}-${kp}`),
    kafkaConfig: join(root, 'data', `server-${kp}.properties`),
    kafkaLog: join(root, 'logs', `kafka-${kp}.log`),
    kafkaPid: join(root, 'run', `kafka-${kp}.pid`),
    registryLog: join(root, 'logs', `registry-${rp}.log`),
    registryPid: join(root, 'run', `registry-${rp}.pid`),
  }
}
