/**
 * Servers a fault scenario may stop: each its own instance on its own ports
 * and data, never the shared stack. Kafka and the registry are the local
 * stack's jars started with other ports (stack/ names data, logs and PID
 * files by port); PostgreSQL is a throw-away `initdb` cluster in a temp
 * folder run as the postgres OS user.
 */
import { execFile, execFileSync } from 'node:child_process'
import { chownSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { loadConfig, type Config } from '../../../lib/config.js'
import { waitFor } from '../../../lib/retry.js'
import { kafkaService, startKafka } from '../../../stack/kafka.js'
import { stackPaths } from '../../../stack/paths.js'
import { runningPid, stopService } from '../../../stack/processes.js'
import { registryService, startRegistry } from '../../../stack/registry.js'
import { freePort } from '../../kit/ports.js'
import { uniqueName } from '../../kit/names.js'

const run = promisify(execFile)
const PG_BIN = '/usr/lib/postgresql/15/bin'

/** A server the suite owns: it can crash it and bring it back. */
export interface PrivateServer {
  /** The address clients use (broker host:port, registry URL, connection string). */
  address: string
  /** SIGKILL (Kafka), immediate shutdown (PostgreSQL) or stop (the registry). */
  crash(): Promise<void>
  /** SIGSTOP or SIGCONT (Kafka): a server that holds its connections and answers nothing, then goes on. */
  pause?(paused: boolean): void
  restart(): Promise<void>
  /** Stops it and removes its data. */
  remove(): Promise<void>
}

/** A private single-node Kafka (KRaft), its own ports, data and PID file. */
export async function startPrivateKafka(): Promise<PrivateServer> {
  const kafkaPort = await freePort()
  let controllerPort = await freePort()
  // a port just freed may come back at once
  while (controllerPort === kafkaPort) controllerPort = await freePort()
  const config = loadConfig({ overrides: { stack: { kafkaPort, controllerPort, kafkaHeapMb: 384 } } })
  const paths = stackPaths(config)
  const svc = kafkaService(paths)
  const start = async (): Promise<void> => void (await startKafka(config, paths, () => undefined))
  await start()
  return {
    address: `127.0.0.1:${config.stack.kafkaPort}`,
    async crash() {
      const pid = runningPid(svc)
      if (pid === undefined) throw new Error(`the private broker on ${config.stack.kafkaPort} is not running`)
      process.kill(pid, 'SIGKILL')
      await waitFor('the private broker to die', () => (runningPid(svc) === undefined ? true : undefined), {
        timeoutMs: 10_000,
        intervalMs: 20,
      })
    },
    restart: start,
    pause(paused) {
      const pid = runningPid(svc)
      if (pid === undefined) throw new Error(`the private broker on ${config.stack.kafkaPort} is not running`)
      process.kill(pid, paused ? 'SIGSTOP' : 'SIGCONT')
    },
    async remove() {
      // a paused broker would not stop
      const pid = runningPid(svc)
      if (pid !== undefined) process.kill(pid, 'SIGCONT')
      await stopService(svc, 5000)
      for (const f of [paths.kafkaData, paths.kafkaConfig, paths.kafkaLog]) rmSync(f, { recursive: true, force: true })
    },
  }
}

/** A private schema registry: its own port and its own database on the shared PostgreSQL (so schemas survive its restart). */
export async function startPrivateRegistry(databaseUrl: string): Promise<PrivateServer> {
  const database = uniqueName('xrc_registry_fault')
  const config: Config = loadConfig({
    overrides: {
      database: { url: databaseUrl },
      stack: { registryPort: await freePort(), registryDatabase: database, registryHeapMb: 256 },
    },
  })
  const paths = stackPaths(config)
  const svc = registryService(paths)
  const start = async (): Promise<void> => void (await startRegistry(config, paths, () => undefined))
  await start()
  return {
    address: `http://127.0.0.1:${config.stack.registryPort}/apis/ccompat/v7`,
    crash: async () => void (await stopService(svc, 5000)),
    restart: start,
    async remove() {
      await stopService(svc, 5000)
      rmSync(paths.registryLog, { force: true })
      const client = new pg.Client({ connectionString: databaseUrl })
      await client.connect()
      try {
        await client.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)
      } finally {
        await client.end()
      }
    },
  }
}

/** A private PostgreSQL 15 cluster (initdb as the postgres user, trust auth, its own port). */
export async function startPrivatePostgres(): Promise<PrivateServer> {
  const dir = mkdtempSync(join(tmpdir(), 'xrc-fault-pg-'))
  const data = join(dir, 'data')
  const port = await freePort()
  chownSync(dir, ...postgresIds())
  const asPostgres = (cmd: string, args: string[]): Promise<unknown> =>
    run('runuser', ['-u', 'postgres', '--', join(PG_BIN, cmd), ...args], { timeout: 60_000 })
  await asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync'])
  const start = async (): Promise<void> => {
    await asPostgres('pg_ctl', [
      '-D',
      data,
      '-l',
      join(dir, 'log'),
      '-w',
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
      'start',
    ])
  }
  await start()
  return {
    address: `postgres://postgres@127.0.0.1:${port}/postgres`,
    crash: async () => void (await asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop'])),
    restart: start,
    async remove() {
      await asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined) // already stopped after a crash
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** uid and gid of the postgres OS user, who must own the cluster folder. */
function postgresIds(): [number, number] {
  return [
    Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })),
    Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })),
  ]
}
