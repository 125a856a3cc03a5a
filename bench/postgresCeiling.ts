/**
 * PostgreSQL's own ceiling on this machine: binary COPY (pg-copy-streams,
 * the store's own encoder) of 4 KiB blocks into the block store's own
 * tables (made by createBlockStore().init(), so the same columns, primary
 * key and TOAST/compression settings), one transaction per group of the
 * size the pipeline's groups had. Keys never repeat, so this is COPY alone:
 * no DELETE of earlier versions, no control or history rows, which the
 * applier adds on top.
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
import type { ThroughputResult } from './kafkaCeiling.js'
import { median, round } from './stats.js'

/** The COPY ceiling, with the transaction size it used. */
export interface CopyCeilingResult extends ThroughputResult {
  blocksPerTransaction: number
  transactions: number
  /** Median time of one transaction (COPY + COMMIT), ms. */
  medianTransactionMs: number
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
  const pool = createPool({
    url: config.database.url,
    logger: silentLogger,
    max: 1,
    applicationName: 'xrc-bench-copy-ceiling',
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
    const started = performance.now()
    try {
      for (let done = 0, seq = 1; done < options.blocks; seq++) {
        const n = Math.min(groupBlocks, options.blocks - done)
        const t0 = performance.now()
        await client.query('BEGIN')
        const copy = client.query(
          pgCopyStreams.from(
            `COPY ${store.tables.blocks} (${BLOCK_ROW_COLUMNS.join(', ')}) FROM STDIN (FORMAT binary)`,
          ),
        )
        await pipeline(Readable.from(encodeBlockRows(rowsOf(done, n), seq, seq)), copy)
        await client.query('COMMIT')
        txMs.push(performance.now() - t0)
        done += n
      }
    } finally {
      client.release()
    }
    const seconds = (performance.now() - started) / 1000
    return {
      records: options.blocks,
      recordsPerSec: options.blocks / seconds,
      mbPerSec: (options.blocks * blockSize) / seconds / 1024 / 1024,
      seconds,
      blocksPerTransaction: groupBlocks,
      transactions: txMs.length,
      medianTransactionMs: round(median(txMs), 1),
    }
  } finally {
    await pool.end()
  }
}

/** The server's version string, e.g. "15.20 (Debian 15.20-0+deb12u1)". */
export async function postgresVersion(config: Config): Promise<string> {
  const pool = createPool({ url: config.database.url, logger: silentLogger, max: 1, applicationName: 'xrc-bench' })
  try {
    const res = await pool.query<{ server_version: string }>('SHOW server_version')
    return res.rows[0]?.server_version ?? 'unknown'
  } finally {
    await pool.end()
  }
}
