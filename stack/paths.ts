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

export function stackPaths(config: Config): StackPaths {
  const root = resolve(REPO_ROOT, config.stack.dir)
  const v = stackVersions()
  return {
    root,
    kafkaLibs: join(root, `kafka-${v.kafka}`, 'libs'),
    apicurioHome: join(root, `apicurio-${v.apicurio}`),
    downloads: join(root, 'downloads'),
    kafkaData: join(root, 'data', `kafka-${v.kafka}`),
    kafkaConfig: join(root, 'data', 'server.properties'),
    kafkaLog: join(root, 'logs', 'kafka.log'),
    kafkaPid: join(root, 'run', 'kafka.pid'),
    registryLog: join(root, 'logs', 'registry.log'),
    registryPid: join(root, 'run', 'registry.pid'),
  }
}
