/**
 * A session of the fault suite: its own name (topics, subjects, mover group,
 * PostgreSQL schema) and data folder, on the servers it is given (the
 * shared stack, or private instances a scenario stops and starts).
 *
 * Unlike test/kit/session.ts it imports nothing from vitest, because the
 * soak (`npm run soak`, plain node) runs the same scenarios; the servers'
 * addresses are passed in instead of injected.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { loadConfig, type Config } from '../../../lib/config.js'
import { createKafkaClient } from '../../../lib/kafka/index.js'
import { silentLogger } from '../../../lib/logger.js'
import { ident } from '../../../lib/postgres.js'
import { volumePath } from '../../../producer/index.js'
import { moverGroupId, sessionTopics, valueSubject } from '../../../schemas/topicNames.js'
import { uniqueName } from '../../kit/names.js'
import type { StackInfo } from '../../kit/stackInfo.js'

export interface FaultSession {
  config: Config
  /** What the config file of the child processes holds. */
  settings: Record<string, unknown>
  dataDir: string
  servers: StackInfo
  primaryImage(volume: string): Promise<Buffer>
  /** Deletes topics, subjects, schema and data folder (on servers still up; a private server is removed whole by its owner). */
  cleanup(options?: { kafka?: boolean; registry?: boolean; database?: boolean }): Promise<void>
}

export interface FaultSessionOptions {
  controllers: number
  volumesPerController: number
  blocks: number
  /** Extra settings (producer, mover, ...), merged over the defaults below. */
  extra?: Record<string, unknown>
}

export function createFaultSession(servers: StackInfo, options: FaultSessionOptions): FaultSession {
  const name = uniqueName('f')
  const dataDir = mkdtempSync(join(tmpdir(), 'xrc-fault-'))
  const controllers = Array.from({ length: options.controllers }, (_, id) => ({
    id,
    volumes: Array.from({ length: options.volumesPerController }, (_, v) => ({
      name: `c${id}v${v}`,
      blocks: options.blocks,
    })),
  }))
  const extra = options.extra ?? {}
  const section = (key: string): object => (extra[key] as object | undefined) ?? {}
  const settings: Record<string, unknown> = {
    ...extra,
    kafka: { brokers: servers.kafkaBrokers, ...section('kafka') },
    schemaRegistry: { url: servers.registryUrl, ...section('schemaRegistry') },
    // the services' database may differ from the one the suite reads (a proxy in between)
    database: { url: servers.databaseUrl, ...section('database') },
    log: { level: 'info', ...section('log') },
    session: { name, blockSize: 4096, controllers, dataDir },
    producer: { apiPort: 0, ...section('producer') },
    // any free metrics port: scenarios run side by side, and the defaults are fixed ports
    mover: { groupIntervalMs: 50, metricsPort: 0, ...section('mover') },
    applier: { schema: name, metricsPort: 0, ...section('applier') },
  }
  const config = loadConfig({ overrides: settings })
  return {
    config,
    settings,
    dataDir,
    servers,
    primaryImage: (volume) => readFile(volumePath(dataDir, name, volume)),
    async cleanup(which = {}) {
      const topics = sessionTopics(name)
      if (which.kafka ?? true) {
        const admin = createKafkaClient({
          connection: { brokers: servers.kafkaBrokers },
          clientId: uniqueName('cleanup'),
          logger: silentLogger,
          logs: 'none',
        }).admin()
        await admin.connect()
        try {
          const existing = new Set(await admin.listTopics())
          const mine = Object.values(topics).filter((t) => existing.has(t))
          if (mine.length > 0) await admin.deleteTopics({ topics: mine })
          await admin.deleteGroups([moverGroupId(name)]).catch(() => undefined) // none when no group was journaled
        } finally {
          await admin.disconnect()
        }
      }
      if (which.registry ?? true) {
        for (const t of [topics.updates, topics.journal, topics.applied]) {
          const base = `${servers.registryUrl}/subjects/${encodeURIComponent(valueSubject(t))}`
          await fetch(base, { method: 'DELETE' })
          await fetch(`${base}?permanent=true`, { method: 'DELETE' })
        }
      }
      if (which.database ?? true) {
        const client = new pg.Client({ connectionString: servers.databaseUrl })
        await client.connect()
        try {
          await client.query(`DROP SCHEMA IF EXISTS ${ident(config.applier.schema)} CASCADE`)
        } finally {
          await client.end()
        }
      }
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** The workload's view of a session's volumes. */
export function faultVolumes(config: Config): { name: string; blocks: number; controller: number }[] {
  return config.session.controllers.flatMap((c) =>
    c.volumes.map((v) => ({ name: v.name, blocks: v.blocks, controller: c.id })),
  )
}
