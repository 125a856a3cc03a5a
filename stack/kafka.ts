/**
 * The local Kafka broker: Apache Kafka from Maven Central, single node,
 * KRaft with broker and controller combined, run as its own JVM.
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Kafka, logLevel } from 'kafkajs'
import type { Config } from '../lib/config.js'
import { XrcError } from '../lib/errors.js'
import { waitFor } from '../lib/retry.js'
import { REPO_ROOT, type StackPaths } from './paths.js'
import { runningPid, startDetached, tailLog, type ServiceProcess } from './processes.js'

const run = promisify(execFile)

export function kafkaService(paths: StackPaths): ServiceProcess {
  return { name: 'kafka', pidFile: paths.kafkaPid, logFile: paths.kafkaLog, marker: 'kafka.Kafka' }
}

function serverProperties(config: Config, paths: StackPaths): string {
  const { kafkaPort, controllerPort } = config.stack
  return [
    '# written by `xrc stack up`; edit stack/kafka.ts instead',
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${kafkaPort},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${kafkaPort}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    `log.dirs=${paths.kafkaData}`,
    'num.partitions=1',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=4',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=4',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=false',
    'delete.topic.enable=true',
    // tests create and delete many small topics: keep segments small
    'log.segment.bytes=67108864',
    'log.retention.hours=24',
    'transaction.max.timeout.ms=900000',
    '',
  ].join('\n')
}

function javaArgs(config: Config, paths: StackPaths, main: string, args: string[]): string[] {
  return [
    `-Xmx${config.stack.kafkaHeapMb}m`,
    '-Xms256m',
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${join(REPO_ROOT, 'stack', 'log4j2.properties')}`,
    `-Dkafka.logs.dir=${join(paths.root, 'logs')}`,
    '-cp',
    `${paths.kafkaLibs}/*`,
    main,
    ...args,
  ]
}

/** Formats the KRaft storage once, with a cluster id from StorageTool random-uuid. */
async function formatStorage(config: Config, paths: StackPaths): Promise<void> {
  if (existsSync(join(paths.kafkaData, 'meta.properties'))) return
  const small = { ...config, stack: { ...config.stack, kafkaHeapMb: 256 } }
  const { stdout } = await run('java', javaArgs(small, paths, 'kafka.tools.StorageTool', ['random-uuid']))
  const clusterId = stdout.trim().split('\n').pop()?.trim()
  if (!clusterId) throw new XrcError('XRC_STACK_START_FAILED', { reason: 'noClusterId' })
  await run(
    'java',
    javaArgs(small, paths, 'kafka.tools.StorageTool', ['format', '-t', clusterId, '-c', paths.kafkaConfig]),
  )
}

/** One admin round trip: resolves with the broker count, throws when none answers. */
export async function pingKafka(brokers: readonly string[], timeoutMs = 3000): Promise<number> {
  const kafka = new Kafka({
    clientId: 'xrc-stack-probe',
    brokers: [...brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: timeoutMs,
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
  })
  const admin = kafka.admin()
  try {
    await admin.connect()
    const cluster = await admin.describeCluster()
    return cluster.brokers.length
  } finally {
    await admin.disconnect().catch(() => undefined)
  }
}

/** Starts the broker unless it runs already; waits until a kafkajs admin call answers. */
export async function startKafka(
  config: Config,
  paths: StackPaths,
  say: (line: string) => void,
): Promise<'started' | 'running' | 'external'> {
  const svc = kafkaService(paths)
  const brokers = [`127.0.0.1:${config.stack.kafkaPort}`]
  if (runningPid(svc) !== undefined) {
    await waitForKafka(config, paths, brokers)
    return 'running'
  }
  if (
    await pingKafka(brokers, 1500).then(
      () => true,
      () => false,
    )
  )
    return 'external'
  mkdirSync(paths.kafkaData, { recursive: true })
  writeFileSync(paths.kafkaConfig, serverProperties(config, paths))
  try {
    await formatStorage(config, paths)
  } catch (err) {
    throw new XrcError('XRC_STACK_START_FAILED', { reason: 'formatFailed', cause: err })
  }
  say(`starting kafka on 127.0.0.1:${config.stack.kafkaPort} (log: ${paths.kafkaLog})`)
  startDetached(svc, 'java', javaArgs(config, paths, 'kafka.Kafka', [paths.kafkaConfig]), process.env)
  await waitForKafka(config, paths, brokers)
  return 'started'
}

async function waitForKafka(config: Config, paths: StackPaths, brokers: string[]): Promise<void> {
  const svc = kafkaService(paths)
  try {
    await waitFor(
      'the kafka broker to answer',
      async () => {
        return pingKafka(brokers)
      },
      {
        timeoutMs: config.stack.startTimeoutMs,
        intervalMs: 500,
        abortIf: () => (runningPid(svc) === undefined ? 'the broker process exited' : undefined),
      },
    )
  } catch (err) {
    throw new XrcError('XRC_STACK_START_FAILED', {
      reason: 'notStarted',
      service: 'kafka',
      log: paths.kafkaLog,
      tail: tailLog(paths.kafkaLog),
      cause: err,
    })
  }
}
