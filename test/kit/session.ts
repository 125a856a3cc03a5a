/**
 * A whole session for one test: its own name (hence its own topics,
 * subjects, mover group and PostgreSQL schema) and data folder, and a
 * cleanup that removes all of them.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readFile } from 'node:fs/promises'
import pg from 'pg'
import { loadConfig, type Config } from '../../lib/config.js'
import { ident } from '../../lib/postgres.js'
import { moverGroupId, sessionTopics, valueSubject } from '../../schemas/topicNames.js'
import { volumePath } from '../../producer/index.js'
import { uniqueName } from './names.js'
import { deleteSubject, stackInfo, testKafka } from './servers.js'

export interface TestSession {
  config: Config
  /** The overrides given to loadConfig, to write a config file for child processes. */
  settings: Record<string, unknown>
  dataDir: string
  /** Extra schemas (replays) to drop at cleanup. */
  extraSchemas: string[]
  primaryImage(volume: string): Promise<Buffer>
  cleanup(): Promise<void>
}

export function sessionSettings(options: {
  controllers: number
  volumesPerController: number
  blocks: number
  blockSize?: number
  extra?: Record<string, unknown>
}): Record<string, unknown> {
  const name = uniqueName('s')
  const dataDir = mkdtempSync(join(tmpdir(), 'xrc-test-'))
  const controllers = Array.from({ length: options.controllers }, (_, id) => ({
    id,
    volumes: Array.from({ length: options.volumesPerController }, (_, v) => ({
      name: `c${id}v${v}`,
      blocks: options.blocks,
    })),
  }))
  const info = stackInfo()
  const extra = options.extra ?? {}
  return {
    ...extra,
    // a test may point the session at a private broker of its own
    kafka: { brokers: info.kafkaBrokers, ...(extra.kafka as object | undefined) },
    schemaRegistry: { url: info.registryUrl },
    database: { url: info.databaseUrl },
    log: { level: 'warn' },
    session: { name, blockSize: options.blockSize ?? 4096, controllers, dataDir },
    producer: { apiPort: 0, ...(extra.producer as object | undefined) },
    // any free metrics port: test files run side by side, and the defaults are fixed ports
    mover: { groupIntervalMs: 50, metricsPort: 0, ...(extra.mover as object | undefined) },
    applier: { schema: name, metricsPort: 0, ...(extra.applier as object | undefined) },
  }
}

export function createTestSession(options: Parameters<typeof sessionSettings>[0]): TestSession {
  const settings = sessionSettings(options)
  const config = loadConfig({ overrides: settings })
  const dataDir = config.session.dataDir
  const extraSchemas: string[] = []
  return {
    config,
    settings,
    dataDir,
    extraSchemas,
    primaryImage: (volume) => readFile(volumePath(dataDir, config.session.name, volume)),
    async cleanup() {
      const topics = sessionTopics(config.session.name)
      const admin = testKafka().admin()
      await admin.connect()
      try {
        const existing = new Set(await admin.listTopics())
        const mine = [topics.updates, topics.journal, topics.deadLetter, topics.applied].filter((t) => existing.has(t))
        if (mine.length > 0) await admin.deleteTopics({ topics: mine })
        await admin.deleteGroups([moverGroupId(config.session.name)]).catch(() => undefined)
      } finally {
        await admin.disconnect()
      }
      for (const t of [topics.updates, topics.journal, topics.deadLetter, topics.applied])
        await deleteSubject(valueSubject(t))
      const client = new pg.Client({ connectionString: stackInfo().databaseUrl })
      await client.connect()
      try {
        for (const s of [config.applier.schema, ...extraSchemas])
          await client.query(`DROP SCHEMA IF EXISTS ${ident(s)} CASCADE`)
      } finally {
        await client.end()
      }
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** The workload's view of a session's volumes. */
export function workloadVolumes(config: Config): { name: string; blocks: number; controller: number }[] {
  return config.session.controllers.flatMap((c) =>
    c.volumes.map((v) => ({ name: v.name, blocks: v.blocks, controller: c.id })),
  )
}
