/**
 * `xrc write`: writes whole blocks from a file or stdin to a primary volume
 * through the running primary's HTTP API, so people and scripts can drive
 * the primary without code. Input larger than one write goes as several
 * writes in order, each ordered after the previous one (its time as the
 * causal token).
 */
import { readFile } from 'node:fs/promises'
import type { Command } from 'commander'
import { XrcError } from '../../lib/errors.js'
import type { WriteAck } from '../../producer/index.js'
import { integerArg, parseTime, parseUrl } from '../args.js'
import type { GlobalOptions } from '../context.js'
import { formatBytes, isoMicros, jsonLine } from '../format.js'

interface WriteFlags {
  primary?: string
  after?: number
  pad?: boolean
  json?: boolean
}

/** Bytes per request: well under the largest write a record set carries (mover.maxRecordSetBytes). */
const CHUNK_BYTES = 1 << 20

async function readInput(file: string | undefined): Promise<Buffer> {
  if (file !== undefined && file !== '-') {
    try {
      return await readFile(file)
    } catch (err) {
      throw new XrcError('XRC_USAGE', { reason: 'unreadableFile', file, cause: err })
    }
  }
  if (process.stdin.isTTY) throw new XrcError('XRC_USAGE', { reason: 'noInput' })
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk)
  return Buffer.concat(chunks)
}

export function registerWriteCommand(program: Command): void {
  program
    .command('write')
    .description("write whole blocks from a file or stdin to a primary volume, through the running primary's HTTP API")
    .argument('<volume>', 'volume name (session.controllers)')
    .argument('<block>', 'first block to write', integerArg(0))
    .argument('[file]', 'file of whole blocks; stdin when absent or -')
    .option('--primary <url>', "the primary's HTTP API (default: http://127.0.0.1:<producer.apiPort>)", parseUrl)
    .option(
      '--after <time>',
      'order this write after a write acknowledged at this time (its causal token, µs)',
      parseTime,
    )
    .option('--pad', 'zero-fill a last partial block instead of refusing it')
    .option('--json', 'print the acknowledgements as one JSON object')
    .action(async (volume: string, block: number, file: string | undefined, flags: WriteFlags) => {
      const { cliConfig, volumeOf } = await import('../context.js')
      const { configuredPrimary, primaryClient } = await import('../primaryClient.js')
      const config = cliConfig(program.opts<GlobalOptions>())
      const blockSize = config.session.blockSize
      const size = volumeOf(config, volume).blocks
      let data = await readInput(file)
      if (data.length === 0) throw new XrcError('XRC_USAGE', { reason: 'emptyInput' })
      if (data.length % blockSize !== 0) {
        if (!flags.pad) throw new XrcError('XRC_USAGE', { reason: 'partialBlock', bytes: data.length, blockSize })
        data = Buffer.concat([data, Buffer.alloc(blockSize - (data.length % blockSize))])
      }
      const blocks = data.length / blockSize
      if (block + blocks > size)
        throw new XrcError('XRC_USAGE', {
          reason: 'blocksOutsideVolume',
          first: block,
          last: block + blocks - 1,
          volume,
          blocks: size,
        })
      const primary = configuredPrimary(config, flags.primary)
      if (!primary) throw new XrcError('XRC_USAGE', { reason: 'primaryUrlNeeded' })
      const client = primaryClient(primary)
      const perWrite = Math.max(blockSize, Math.floor(CHUNK_BYTES / blockSize) * blockSize)
      const acks: WriteAck[] = []
      let after = flags.after
      for (let offset = 0; offset < data.length; offset += perWrite) {
        const ack = await client.write(
          volume,
          block + offset / blockSize,
          data.subarray(offset, offset + perWrite),
          after,
        )
        acks.push(ack)
        after = ack.time
      }
      if (flags.json) {
        console.log(jsonLine({ volume, block, blocks, bytes: data.length, acks }))
        return
      }
      const last = acks[acks.length - 1] as WriteAck
      console.log(
        `wrote ${blocks} block${blocks === 1 ? '' : 's'} (${formatBytes(data.length)}) to ${volume} ` +
          `blocks ${block}..${block + blocks - 1} in ${acks.length} write${acks.length === 1 ? '' : 's'}: ` +
          `controller ${last.controller}, seq ${acks[0]?.seq}${acks.length > 1 ? `..${last.seq}` : ''}, ` +
          `time ${last.time} (${isoMicros(last.time)})`,
      )
    })
}
