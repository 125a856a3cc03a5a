/**
 * A bench run's own session: a fresh name (hence its own topics, registry
 * subjects, mover group and PostgreSQL schema), a data folder of its own,
 * and a cleanup that removes all of them, so runs never see each other's
 * data and leave nothing behind on the shared stack.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { loadConfig, type Config, type LoadOptions } from '../lib/config.js'
import { errorMessage } from '../lib/errors.js'
import { type KafkaClient, createKafkaClient } from '../lib/kafka/index.js'
import { silentLogger } from '../lib/logger.js'
import { ident } from '../lib/postgres.js'

/** The shape every bench session has: 4 controllers of 2 volumes, 4 KiB blocks. */
export const BENCH_LAYOUT = { controllers: 4, volumesPerController: 2, blockSize: 4096 } as const

/** A run's session: its config, folder, names, and its cleanup. */
export interface BenchSession {
  config: Config
  /** Folder for the primary's files and the stages' logs. */
  dir: string
  /** Topic of the Kafka ceiling runs (4 partitions, like the updates topic). */
  ceilingTopic: string
  /** PostgreSQL schema of the COPY ceiling. */
  ceilingSchema: string
  kafka: KafkaClient
  /**
   * Removes topics, groups, subjects, schemas and files; reports (does not throw) what it could not remove.
   * Sessions adopted (see `adopt`) go too.
   */
  cleanup(options?: { keepDir?: boolean }): Promise<string[]>
  /**
   * A further session the run made from this one (a failover's takeover session, say), whose topics, groups,
   * subjects and PostgreSQL schema the cleanup removes as well; its files are expected in this session's folder.
   */
  adopt(session: { name: string; schema: string }): void
}

/**
 * Makes a session. `load` carries the user's config file and environment
 * (the bench's composition root reads them); the session's name, layout
 * and data folder are set here, over them.
 */
export async function createBenchSession(options: {
  load: LoadOptions
  blocksPerVolume: number
  /** Sizes of some volumes by name (c0v0, ...), blocks, instead of blocksPerVolume. */
  volumeBlocks?: Readonly<Record<string, number>>
  logLevel?: string
}): Promise<BenchSession> {
  const name = `bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`
  const dir = await mkdtemp(join(tmpdir(), 'xrc-bench-'))
  const controllers = Array.from({ length: BENCH_LAYOUT.controllers }, (_, id) => ({
    id,
    volumes: Array.from({ length: BENCH_LAYOUT.volumesPerController }, (_, v) => ({
      name: `c${id}v${v}`,
      blocks: options.volumeBlocks?.[`c${id}v${v}`] ?? options.blocksPerVolume,
    })),
  }))
  const overrides = options.load.overrides ?? {}
  const config = loadConfig({
    ...options.load,
    overrides: {
      ...overrides,
      log: { level: options.logLevel ?? 'warn' },
      session: { name, blockSize: BENCH_LAYOUT.blockSize, controllers, dataDir: join(dir, 'data') },
      // the stages are driven in-process: no HTTP API to bind
      producer: { ...(overrides.producer as object | undefined), apiPort: 0 },
      applier: { ...(overrides.applier as object | undefined), schema: name },
    },
  })
  const kafka = createKafkaClient({
    connection: config.kafka,
    library: config.kafka.client,
    clientId: `xrc-bench-${name}`,
    logger: silentLogger,
    logs: 'none',
  })
  const ceilingTopic = `xrc.${name}.ceiling`
  const ceilingSchema = `${name}_ceiling`
  const adopted: { name: string; schema: string }[] = []
  return {
    config,
    dir,
    ceilingTopic,
    ceilingSchema,
    kafka,
    adopt(session) {
      adopted.push(session)
    },
    async cleanup(cleanupOptions = {}) {
      const problems: string[] = []
      const attempt = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
        try {
          await fn()
        } catch (err) {
          problems.push(`${what}: ${errorMessage(err)}`)
        }
      }
      // by prefix, not by a list: every topic, group and subject the session's stages made, kinds added later too
      const prefixes = [name, ...adopted.map((a) => a.name)].map((n) => `xrc.${n}.`)
      const ours = (s: string): boolean => prefixes.some((p) => s.startsWith(p))
      const admin = kafka.admin()
      await attempt('kafka', async () => {
        await admin.connect()
        try {
          const mine = (await admin.listTopics()).filter(ours)
          if (mine.length > 0) await admin.deleteTopics({ topics: mine })
          const groups = (await admin.listGroups()).filter(ours)
          // a group still settling goes with its topics' offsets
          if (groups.length > 0) await admin.deleteGroups(groups).catch(() => undefined)
        } finally {
          await admin.disconnect()
        }
      })
      await attempt('registry subjects', async () => {
        const res = await fetch(`${config.schemaRegistry.url}/subjects`)
        const subjects = res.ok ? ((await res.json()) as string[]) : []
        for (const subject of subjects.filter(ours)) await deleteSubject(config.schemaRegistry.url, subject)
      })
      await attempt('postgresql', async () => {
        const client = new pg.Client({ connectionString: config.database.url })
        await client.connect()
        try {
          for (const s of [config.applier.schema, ceilingSchema, ...adopted.map((a) => a.schema)])
            await client.query(`DROP SCHEMA IF EXISTS ${ident(s)} CASCADE`)
        } finally {
          await client.end()
        }
      })
      if (!cleanupOptions.keepDir) await attempt('files', () => rm(dir, { recursive: true, force: true }))
      else await attempt('files', () => rm(join(dir, 'data'), { recursive: true, force: true }))
      return problems
    },
  }
}

/** Deletes a registry subject for good (soft delete, then permanent); a subject never made is fine. */
async function deleteSubject(registryUrl: string, subject: string): Promise<void> {
  const base = `${registryUrl}/subjects/${encodeURIComponent(subject)}`
  await fetch(base, { method: 'DELETE' })
  await fetch(`${base}?permanent=true`, { method: 'DELETE' })
}
