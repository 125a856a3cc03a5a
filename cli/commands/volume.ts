/**
 * `xrc volume export | path`: a volume's image in a file, so `cmp` can
 * compare the secondary with the primary.
 *
 * - export (default --from secondary): the image as of the last applied
 *   group, read in one PostgreSQL snapshot (applier/store/volumeReader.ts).
 * - export --from primary: through the running primary's HTTP API; with no
 *   primary running, a copy of its volume file (then at rest).
 * - path: where the primary keeps the volume file.
 */
import { copyFile, open, stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import { Command, Option } from 'commander'
import type { Config } from '../../lib/config.js'
import { XrcError, isXrcError } from '../../lib/errors.js'
import type { Logger } from '../../lib/logger.js'
import { parseSchemaName, parseUrl } from '../args.js'
import type { GlobalOptions } from '../context.js'
import { formatBytes, isoMicros, jsonLine } from '../format.js'

interface ExportFlags {
  from: 'secondary' | 'primary'
  schema?: string
  primary?: string
  json?: boolean
}

export function registerVolumeCommands(program: Command): void {
  const volume = program
    .command('volume')
    .description("a volume's image: export it to a file, or find the primary's volume file")
  volume
    .command('export')
    .description('write a volume image to a file: the secondary as of its last applied group (default), or the primary')
    .argument('<volume>', 'volume name')
    .argument('<file>', 'output file (replaced)')
    .addOption(new Option('--from <site>', 'which image').choices(['secondary', 'primary']).default('secondary'))
    .option(
      '--schema <schema>',
      "the secondary's PostgreSQL schema (default applier.schema; e.g. a replay target)",
      parseSchemaName,
    )
    .option('--primary <url>', "the primary's HTTP API (default: http://127.0.0.1:<producer.apiPort>)", parseUrl)
    .option('--json', 'print the result as one JSON object')
    .action(async (name: string, file: string, flags: ExportFlags) => {
      const { cliConfig, commandLogger, volumeOf } = await import('../context.js')
      const config = cliConfig(program.opts<GlobalOptions>())
      const v = volumeOf(config, name)
      const logger = commandLogger(program.opts<GlobalOptions>(), 'xrc-volume')
      const result =
        flags.from === 'primary'
          ? await exportPrimary(config, v, file, flags.primary)
          : await exportSecondary(config, logger, name, file, flags.schema)
      if (flags.json) console.log(jsonLine(result))
      else console.log(result.summary)
    })
  volume
    .command('path')
    .description("print the path of the primary's volume file (compare with cmp)")
    .argument('<volume>', 'volume name')
    .action(async (name: string) => {
      const { cliConfig, volumeOf } = await import('../context.js')
      const { volumePath } = await import('../../producer/controller/volumeFile.js')
      const config = cliConfig(program.opts<GlobalOptions>())
      volumeOf(config, name)
      console.log(resolve(volumePath(config.session.dataDir, config.session.name, name)))
    })
}

async function exportSecondary(
  config: Config,
  logger: Logger,
  name: string,
  file: string,
  schemaFlag: string | undefined,
): Promise<Record<string, unknown> & { summary: string }> {
  const { checkPostgres } = await import('../../stack/postgres.js')
  const { createPool } = await import('../../lib/postgres.js')
  const { createBlockStore } = await import('../../applier/index.js')
  const schema = schemaFlag ?? config.applier.schema
  await checkPostgres(config.database.url, 5000)
  const pool = createPool({ url: config.database.url, logger, max: 1, applicationName: 'xrc-volume-export' })
  try {
    const store = createBlockStore({
      pool,
      schema,
      session: config.session.name,
      blockSize: config.session.blockSize,
      volumes: config.session.controllers.flatMap((c) => c.volumes),
      logger,
    })
    const r = await store.exportVolume(name, file).catch((err: unknown) => {
      if (isXrcError(err, 'XRC_NOT_FOUND'))
        throw new XrcError('XRC_NOT_FOUND', { reason: 'secondary', schema, cause: err })
      throw err
    })
    const asOf = r.asOf
      ? `as of group ${r.asOf.groupSeq}, T ${isoMicros(r.asOf.groupTime)}`
      : 'with no group applied yet (all zeros)'
    return {
      from: 'secondary',
      schema,
      volume: name,
      path: file,
      bytes: r.bytes,
      storedBlocks: r.storedBlocks,
      groupSeq: r.asOf?.groupSeq ?? null,
      groupTime: r.asOf?.groupTime ?? null,
      summary:
        `exported ${name} from the secondary (schema ${schema}) ${asOf}: ${formatBytes(r.bytes)} ` +
        `(${r.storedBlocks} blocks written, the rest zeros) to ${file}`,
    }
  } finally {
    await pool.end()
    logger.flush()
  }
}

async function exportPrimary(
  config: Config,
  v: { name: string; blocks: number },
  file: string,
  urlFlag: string | undefined,
): Promise<Record<string, unknown> & { summary: string }> {
  const { configuredPrimary, primaryClient } = await import('../primaryClient.js')
  const { volumePath } = await import('../../producer/controller/volumeFile.js')
  const primary = configuredPrimary(config, urlFlag)
  const url = primary?.url
  const bs = config.session.blockSize
  if (primary) {
    try {
      const client = primaryClient(primary)
      const out = await open(file, 'w')
      try {
        const per = Math.max(1, Math.floor((1 << 20) / bs))
        for (let b = 0; b < v.blocks; b += per)
          await out.write(await client.read(v.name, b, Math.min(per, v.blocks - b)))
      } finally {
        await out.close()
      }
      return {
        from: 'primary',
        source: url,
        volume: v.name,
        path: file,
        bytes: v.blocks * bs,
        summary: `exported ${v.name} from the running primary at ${url}: ${formatBytes(v.blocks * bs)} to ${file}`,
      }
    } catch (err) {
      // no primary running: its volume file is at rest and is the image
      if (!isXrcError(err, 'XRC_PRIMARY_UNREACHABLE')) throw err
    }
  }
  const path = volumePath(config.session.dataDir, config.session.name, v.name)
  const st = await stat(path).catch(() => undefined)
  if (!st)
    throw url
      ? new XrcError('XRC_NOT_FOUND', { reason: 'volumeFile', url, file: path })
      : new XrcError('XRC_NOT_FOUND', { reason: 'volumeFileOnly', file: path })
  await copyFile(path, file)
  return {
    from: 'primary',
    source: path,
    volume: v.name,
    path: file,
    bytes: st.size,
    summary:
      `no primary answers${url ? ` at ${url}` : ''}: copied its volume file ${path} ` +
      `(${formatBytes(st.size)}) to ${file}`,
  }
}
