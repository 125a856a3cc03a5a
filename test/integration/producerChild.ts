/**
 * Child process of producer-crash.test.ts: runs a primary and writes until
 * it is killed, four writers at a time, each write to a block no earlier
 * run wrote, printing every acknowledgement as one JSON line on stdout.
 *
 * argv: <config as JSON> <run number>
 */
import { loadConfig } from '../../lib/config.js'
import { silentLogger } from '../../lib/logger.js'
import { createPrimary } from '../../producer/index.js'
import { blockData } from './producerTopic.js'

const BLOCKS_PER_RUN = 400

const [configJson, runArg] = process.argv.slice(2)
const config = loadConfig({ overrides: JSON.parse(configJson as string) as Record<string, unknown> })
const run = Number(runArg)
const primary = createPrimary({ config, logger: silentLogger })
await primary.start()
const volumes = config.session.controllers.flatMap((c) => c.volumes.map((v) => v.name))
let next = 0

async function writer(): Promise<void> {
  for (;;) {
    const i = next++
    const volume = volumes[i % volumes.length] as string
    const block = run * BLOCKS_PER_RUN + Math.floor(i / volumes.length)
    if (block >= (run + 1) * BLOCKS_PER_RUN) return
    const ack = await primary.write({ volume, block, data: blockData(volume, block) })
    process.stdout.write(`${JSON.stringify({ ...ack, volume, block })}\n`)
  }
}

await Promise.all([writer(), writer(), writer(), writer()])
process.stdout.write('done\n')
await primary.stop()
