/**
 * PostgreSQL's own ceiling on this machine: binary COPY (pg-copy-streams,
 * the store's own encoder) of 4 KiB blocks into the block store's own
 * tables (made by createBlockStore().init(), so the same columns, primary
 * key and TOAST/compression settings), one transaction per group of the
 * size the pipeline's groups had. Keys never repeat, so this is COPY alone:
 * no DELETE of earlier versions, no control or history rows, which the
 * applier adds on top. Its CPU: the bench's own Node process (the client:
 * making the rows, encoding, the socket) and the connection's PostgreSQL
 * backend, found by application name as the pipeline finds the applier's.
 */
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { randomBytes } from 'node:crypto'
import pgCopyStreams from 'pg-copy-streams'
import { createBlockStore } from '../applier/index.js'
import { BLOCK_ROW_COLUMNS, encodeBlockRows, type BlockRow } from '../applier/index.js'
import type { Config } from '../lib/config.js'
import { XrcError } from '../lib/errors.js'
import { silentLogger } from '../lib/logger.js'
import { createPool } from '../lib/postgres.js'
import { cpuBetween, type CeilingCpu, type ThroughputResult } from './kafkaCeiling.js'
import { readProcSample, type ProcSample } from './procStats.js'
import { median, round } from './stats.js'

/** The COPY ceiling, with the transaction size it used. */
export interface CopyCeilingResult extends ThroughputResult {
  blocksPerTransaction: number
  transactions: number
  /** Median time of one transaction (COPY + COMMIT), ms. */
  medianTransactionMs: number
  /** CPU per block of the bench's process (the client) and of the connection's backend, over the COPYs. */
  cpu: CeilingCpu
}

/**
 * COPYs `blocks` blocks into a fresh store in schema `schema`, `groupBlocks`
 * per transaction. The volumes of `config` must hold `blocks` distinct keys.
 */
export async function postgresCopyCeiling(options: {
  config: Config
  schema: string
  blocks: number
  groupBlocks: number
}): Promise<CopyCeilingResult> {
  const { config, schema } = options
  const blockSize = config.session.blockSize
  const groupBlocks = Math.max(1, Math.round(options.groupBlocks))
  // the session's name keeps it apart from another bench's on the same server
  const applicationName = `xrc-bench-copy-ceiling-${config.session.name}`
  const pool = createPool({
    url: config.database.url,
    logger: silentLogger,
    max: 1,
    applicationName,
  })
  try {
    const volumes = config.session.controllers.flatMap((c) => c.volumes)
    const capacity = volumes.reduce((n, v) => n + v.blocks, 0)
    if (options.blocks > capacity)
      throw new XrcError('XRC_USAGE', { reason: 'copyCeilingTooSmall', blocks: options.blocks, capacity })
    const store = createBlockStore({ pool, schema, session: config.session.name, blockSize, volumes })
    await store.init()
    const ids = (await store.volumes()).map((v) => v.id)
    // random (incompressible) data, as the pipeline writes; lz4 tries and stores it as is
    const data = Array.from({ length: 64 }, () => randomBytes(blockSize))
    const rowsOf = (from: number, count: number): BlockRow[] =>
      Array.from({ length: count }, (_, j) => {
        const k = from + j
        // spread over the volumes like the workload does; key k is unique
        return {
          volumeId: ids[k % ids.length] as number,
          block: Math.floor(k / ids.length),
          data: data[k % data.length] as Buffer,
        }
      })
    const client = await pool.connect()
    const txMs: number[] = []
    let seconds = Number.NaN
    let clientCpu = Number.NaN
    let backendCpu = Number.NaN
    try {
      const backends = await client.query<{ pid: number }>(
        'SELECT pid FROM pg_stat_activity WHERE application_name = $1',
        [applicationName],
      )
      const sampleBackends = (): Promise<(ProcSample | undefined)[]> =>
        Promise.all(backends.rows.map((r) => readProcSample(r.pid)))
      const backendsBefore = await sampleBackends()
      const selfBefore = process.cpuUsage()
      const started = performance.now()
      for (let done = 0, seq = 1; done < options.blocks; seq++) {
        const n = Math.min(groupBlocks, options.blocks - done)
        const t0 = performance.now()
        await client.query('BEGIN')
        const copy = client.query(
          pgCopyStreams.from(
            `COPY ${store.tables.blockRows} (${BLOCK_ROW_COLUMNS.join(', ')}) FROM STDIN (FORMAT binary)`,
          ),
        )
        await pipeline(Readable.from(encodeBlockRows(rowsOf(done, n), seq, seq)), copy)
        await client.query('COMMIT')
        txMs.push(performance.now() - t0)
        done += n
      }
      seconds = (performance.now() - started) / 1000
      const self = process.cpuUsage(selfBefore)
      clientCpu = self.user + self.system
      const backendsAfter = await sampleBackends()
      backendCpu = backendsBefore.reduce((sum, b, i) => sum + cpuBetween(b, backendsAfter[i]), 0)
      if (backends.rows.length === 0) backendCpu = Number.NaN
    } finally {
      client.release()
    }
    return {
      records: options.blocks,
      recordsPerSec: options.blocks / seconds,
      mbPerSec: (options.blocks * blockSize) / seconds / 1024 / 1024,
      seconds,
      blocksPerTransaction: groupBlocks,
      transactions: txMs.length,
      medianTransactionMs: round(median(txMs), 1),
      cpu: { clientUsPerBlock: clientCpu / options.blocks, serverUsPerBlock: backendCpu / options.blocks },
    }
  } finally {
    await pool.end()
  }
}

/** The server settings a report records (machine.ts): what a replacing write's cost and the store's growth hang on. */
export const POSTGRES_SETTINGS = [
  'shared_buffers',
  'wal_buffers',
  'max_wal_size',
  'checkpoint_timeout',
  'autovacuum',
  'synchronous_commit',
] as const

/**
 * The server's version string, e.g. "15.20 (Debian 15.20-0+deb12u1)", and its POSTGRES_SETTINGS as SHOW prints them
 * (with units: 128MB, 5min), in one query.
 */
export async function postgresServer(config: Config): Promise<{ version: string; settings: Record<string, string> }> {
  const pool = createPool({ url: config.database.url, logger: silentLogger, max: 1, applicationName: 'xrc-bench' })
  try {
    const res = await pool.query<{ name: string; value: string }>(
      `SELECT name, current_setting(name) AS value FROM unnest($1::text[]) AS name`,
      [['server_version', ...POSTGRES_SETTINGS]],
    )
    const all = Object.fromEntries(res.rows.map((r) => [r.name, r.value]))
    const { server_version: version = 'unknown', ...settings } = all
    return { version, settings }
  } finally {
    await pool.end()
  }
}
