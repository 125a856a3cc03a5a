/**
 * `xrc primary`, `xrc mover`, `xrc applier`: each runs one service of a
 * session until SIGTERM/SIGINT. On start each prints one JSON line on stdout
 * naming its endpoints (so scripts find ports chosen with 0); logs go to
 * stderr.
 */
import type { Command } from 'commander'
import { createApplier } from '../../applier/index.js'
import { XrcError } from '../../lib/errors.js'
import { createMetricsRegistry, serveMetrics } from '../../lib/metrics.js'
import { createMover } from '../../mover/index.js'
import { createPrimary, startHttpApi, startNbdServer, type NbdServer } from '../../producer/index.js'
import { cliConfig, cliLogger, type GlobalOptions } from '../context.js'
import { runService } from '../runService.js'

function announce(fields: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ...fields, pid: process.pid })}\n`)
}

function parseIds(value: string): number[] {
  const ids = value.split(',').map((s) => Number(s.trim()))
  if (ids.some((n) => !Number.isInteger(n) || n < 0))
    throw new XrcError('XRC_USAGE', `--controllers takes comma-separated controller ids, got "${value}"`)
  return ids
}

export function registerServiceCommands(program: Command): void {
  program
    .command('primary')
    .description(
      'run the primary site: controllers, volumes, sidefiles; sends record sets to Kafka; HTTP API and NBD exports for writes',
    )
    .option('--controllers <ids>', 'run only these controller ids (comma-separated), e.g. one process per controller')
    .option('--api-port <port>', 'HTTP API port (0 = any free port)')
    .option('--nbd-port <port>', "NBD TCP port (0 = any free port, -1 = none; 10809 is NBD's own)")
    .action(async (opts: { controllers?: string; apiPort?: string; nbdPort?: string }) => {
      const config = cliConfig(program.opts<GlobalOptions>(), {
        ...(opts.apiPort !== undefined ? { producer: { apiPort: Number(opts.apiPort) } } : {}),
        ...(opts.nbdPort !== undefined ? { nbd: { port: Number(opts.nbdPort) } } : {}),
      })
      const logger = cliLogger(config, 'xrc-primary').child({ session: config.session.name })
      const primary = createPrimary({
        config,
        logger,
        ...(opts.controllers ? { controllerIds: parseIds(opts.controllers) } : {}),
      })
      let api: Awaited<ReturnType<typeof startHttpApi>> | undefined
      let nbd: NbdServer | undefined
      await runService(
        'primary',
        {
          start: async () => {
            await primary.start()
            nbd = await startNbdServer({ primary, config, logger, registry: primary.registry })
            api = await startHttpApi({ primary, port: config.producer.apiPort, logger, nbd })
            announce({
              service: 'primary',
              session: config.session.name,
              api: api.url,
              metrics: `${api.url}/metrics`,
              controllers: primary.controllerIds,
              nbd: { tcp: nbd.tcpUrl, socket: nbd.socketPath, exports: [...nbd.exports.keys()] },
            })
          },
          stop: async () => {
            // NBD first: its requests in progress finish through the primary and reply
            await nbd?.close()
            await api?.close()
            await primary.stop()
          },
          done: primary.done,
        },
        logger,
      )
    })

  program
    .command('mover')
    .description(
      'run the mover: reads every controller partition, cuts consistency groups up to the consistency time, journals them in Kafka transactions',
    )
    .option('--metrics-port <port>', 'metrics and health port (0 = any free port)')
    .action(async (opts: { metricsPort?: string }) => {
      const config = cliConfig(
        program.opts<GlobalOptions>(),
        opts.metricsPort !== undefined ? { mover: { metricsPort: Number(opts.metricsPort) } } : {},
      )
      const logger = cliLogger(config, 'xrc-mover').child({ session: config.session.name })
      const metrics = createMetricsRegistry({ session: config.session.name, service: 'mover' })
      const mover = createMover({ config, logger, metrics })
      let server: Awaited<ReturnType<typeof serveMetrics>> | undefined
      await runService(
        'mover',
        {
          start: async () => {
            server = await serveMetrics({
              registry: metrics,
              port: config.mover.metricsPort,
              health: () => mover.health(),
            })
            await mover.start()
            announce({
              service: 'mover',
              session: config.session.name,
              metrics: `http://127.0.0.1:${server.port}/metrics`,
            })
          },
          stop: async () => {
            await mover.stop()
            await server?.close()
          },
          done: mover
            .done()
            .then((s) =>
              s.halt
                ? new XrcError('XRC_SESSION_HALTED', `mover halted: ${s.halt.message} [${s.halt.code}]`)
                : undefined,
            ),
        },
        logger,
      )
    })

  program
    .command('applier')
    .description(
      'run the applier: applies each consistency group from the journal, whole and in order, to the PostgreSQL secondary',
    )
    .option('--metrics-port <port>', 'metrics and health port (0 = any free port)')
    .action(async (opts: { metricsPort?: string }) => {
      const config = cliConfig(
        program.opts<GlobalOptions>(),
        opts.metricsPort !== undefined ? { applier: { metricsPort: Number(opts.metricsPort) } } : {},
      )
      const logger = cliLogger(config, 'xrc-applier').child({ session: config.session.name })
      const metrics = createMetricsRegistry({ session: config.session.name, service: 'applier' })
      const applier = createApplier({ config, logger, metrics })
      let server: Awaited<ReturnType<typeof serveMetrics>> | undefined
      await runService(
        'applier',
        {
          start: async () => {
            server = await serveMetrics({
              registry: metrics,
              port: config.applier.metricsPort,
              health: () => applier.health(),
            })
            await applier.start()
            announce({
              service: 'applier',
              session: config.session.name,
              schema: config.applier.schema,
              metrics: `http://127.0.0.1:${server.port}/metrics`,
            })
          },
          stop: async () => {
            await applier.stop()
            await server?.close()
          },
          done: applier
            .done()
            .then((s) =>
              s.halt
                ? new XrcError('XRC_SESSION_HALTED', `applier halted: ${s.halt.message} [${s.halt.code}]`)
                : undefined,
            ),
        },
        logger,
      )
    })
}
