/**
 * Integration global setup: makes sure the real Kafka broker, schema
 * registry and PostgreSQL answer, then hands their addresses to the tests
 * (`inject('stack')`).
 *
 * - default: the local stack (`xrc stack up`: jars from Maven Central run as
 *   local processes), brought up when it is not running and left running.
 * - XRC_TEST_STACK=testcontainers: containers started with testcontainers,
 *   for machines with a Docker engine and no Java.
 * Either way XRC_STACK_BROKERS=3 runs Kafka as a three-node cluster (topics of
 * factor 3, min ISR 2) instead of the single broker.
 */
import type { TestProject } from 'vitest/node'
import { loadConfig } from '../lib/config.js'
import { createStack } from '../stack/index.js'
import { installStack } from '../stack/install.js'
import { stackPaths } from '../stack/paths.js'
import type { StackInfo } from './kit/stackInfo.js'

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (process.env.XRC_TEST_STACK === 'testcontainers') {
    const { startContainers } = await import('./kit/containers.js')
    const started = await startContainers(loadConfig({ env: process.env }).stack.brokers)
    project.provide('stack', started.info)
    return started.stop
  }
  const config = loadConfig({ env: process.env })
  const stack = createStack(config)
  const status = await stack.status()
  if (status.some((s) => s.state !== 'up')) await stack.up((line) => console.log(`[stack] ${line}`))
  // tests that run private brokers and registries need the jars in this checkout even when
  // the shared services were started from another one
  else await installStack(stackPaths(config), (line) => console.log(`[stack] ${line}`))
  const info: StackInfo = {
    kafkaBrokers: [...config.kafka.brokers],
    registryUrl: config.schemaRegistry.url,
    databaseUrl: config.database.url,
  }
  project.provide('stack', info)
  return undefined
}
