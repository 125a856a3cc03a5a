/**
 * `xrc primary`, `xrc mover`, `xrc applier`: each runs one service of a
 * session until SIGTERM/SIGINT. On start each prints one JSON line on stdout
 * naming its endpoints (so scripts find ports chosen with 0); logs go to
 * stderr. All three run through runService, the one adapter from a stage's
 * lifecycle to a process's.
 */
import type { Command } from 'commander'
import type { Registry } from 'prom-client'
import { XrcError } from '../../lib/errors.js'
import type { HealthReport } from '../../lib/metrics.js'
import type { GlobalOptions } from '../context.js'
import type { ServiceEndpoints } from '../runService.js'

function parseIds(value: string): number[] {
  const ids = value.split(',').map((s) => Number(s.trim()))
  if (ids.some((n) => !Number.isInteger(n) || n < 0))
    throw new XrcError('XRC_USAGE', {
      reason: 'badOption',
      option: '--controllers',
      expected: 'comma-separated controller ids',
      value,
    })
  return ids
}

/** /metrics and /health of a stage on `port`: the mover's and the applier's endpoints. */
function metricsEndpoint(
  registry: Registry,
  port: number,
  health: () => HealthReport,
): () => Promise<ServiceEndpoints> {
  return async () => {
    const { serveMetrics } = await import('../../lib/metrics.js')
    const server = await serveMetrics({ registry, port, health })
    return { fields: { metrics: `http://127.0.0.1:${server.port}/metrics` }, close: () => server.close() }
  }
}

export function registerServiceCommands(program: Command): void {
  program
    .command('primary')
    .description(
      'run the primary site: controllers, volumes, sidefiles; sends record sets to Kafka; HTTP ' +
        'API and NBD exports for writes',
    )
    .option('--controllers <ids>', 'run only these controller ids (comma-separated), e.g. one process per controller')
    .option('--api-port <port>', 'HTTP API port (0 = any free port)')
    .option('--nbd-port <port>', "NBD TCP port (0 = any free port, -1 = none; 10809 is NBD's own)")
    .action(async (opts: { controllers?: string; apiPort?: string; nbdPort?: string }) => {
      const { cliConfig, cliLogger } = await import('../context.js')
      const { runService } = await import('../runService.js')
      const { apiAccess, createPrimary, startHttpApi, startNbdServer } = await import('../../producer/index.js')
      const config = cliConfig(program.opts<GlobalOptions>(), {
        ...(opts.apiPort !== undefined ? { producer: { apiPort: Number(opts.apiPort) } } : {}),
        ...(opts.nbdPort !== undefined ? { nbd: { port: Number(opts.nbdPort) } } : {}),
      })
      const logger = cliLogger(config, 'xrc-primary').child({ session: config.session.name })
      const { apiHost, apiPort, apiToken, apiAllowedHosts, apiMaxReadBytes } = config.producer
      // an API that would listen on the network unprotected refuses before anything starts
      apiAccess({ listenHost: apiHost, token: apiToken })
      const primary = createPrimary({
        config,
        logger,
        ...(opts.controllers ? { controllerIds: parseIds(opts.controllers) } : {}),
      })
      await runService({
        stage: primary,
        session: config.session.name,
        logger,
        frontEnds: async () => {
          const nbd = await startNbdServer({ primary, config, logger, registry: primary.registry })
          const api = await startHttpApi({
            primary,
            host: apiHost,
            port: apiPort,
            token: apiToken,
            allowedHosts: apiAllowedHosts,
            maxReadBytes: apiMaxReadBytes,
            logger,
            nbd,
          }).catch(async (err: unknown) => {
            await nbd.close()
            throw err
          })
          return {
            fields: {
              api: api.url,
              metrics: `${api.url}/metrics`,
              nbd: { tcp: nbd.tcpUrl, socket: nbd.socketPath, exports: [...nbd.exports.keys()] },
            },
            close: async () => {
              // NBD first: its requests in progress finish through the primary and reply
              await nbd.close()
              await api.close()
            },
          }
        },
        announce: () => ({ controllers: primary.controllerIds }),
      })
    })

  program
    .command('mover')
    .description(
      'run the mover: reads every controller partition, cuts consistency groups up to the ' +
        'consistency time, journals them in Kafka transactions',
    )
    .option('--metrics-port <port>', 'metrics and health port (0 = any free port)')
    .action(async (opts: { metricsPort?: string }) => {
      const { cliConfig, cliLogger } = await import('../context.js')
      const { runService } = await import('../runService.js')
      const { createMetricsRegistry } = await import('../../lib/metrics.js')
      const { createMover } = await import('../../mover/index.js')
      const config = cliConfig(
        program.opts<GlobalOptions>(),
        opts.metricsPort !== undefined ? { mover: { metricsPort: Number(opts.metricsPort) } } : {},
      )
      const logger = cliLogger(config, 'xrc-mover').child({ session: config.session.name })
      const metrics = createMetricsRegistry({ session: config.session.name, service: 'mover' })
      const mover = createMover({ config, logger, metrics })
      await runService({
        stage: mover,
        session: config.session.name,
        logger,
        serve: metricsEndpoint(metrics, config.mover.metricsPort, () => mover.health()),
      })
    })

  program
    .command('applier')
    .description(
      'run the applier: applies each consistency group from the journal, whole and in order, to ' +
        'the PostgreSQL secondary',
    )
    .option('--metrics-port <port>', 'metrics and health port (0 = any free port)')
    .option(
      '--schema <schema>',
      "PostgreSQL schema of this secondary's block store (applier.schema): a second secondary of the same " +
        'journal runs with a schema of its own',
    )
    .option('--delay-ms <ms>', 'a delayed secondary: apply each group only once it is this old (applier.delayMs)')
    .action(async (opts: { metricsPort?: string; schema?: string; delayMs?: string }) => {
      const { cliConfig, cliLogger } = await import('../context.js')
      const { runService } = await import('../runService.js')
      const { createMetricsRegistry } = await import('../../lib/metrics.js')
      const { createApplier } = await import('../../applier/index.js')
      const config = cliConfig(program.opts<GlobalOptions>(), {
        applier: {
          ...(opts.metricsPort !== undefined ? { metricsPort: Number(opts.metricsPort) } : {}),
          ...(opts.schema !== undefined ? { schema: opts.schema } : {}),
          ...(opts.delayMs !== undefined ? { delayMs: Number(opts.delayMs) } : {}),
        },
      })
      const logger = cliLogger(config, 'xrc-applier').child({
        session: config.session.name,
        secondary: config.applier.schema,
      })
      const metrics = createMetricsRegistry({
        session: config.session.name,
        service: 'applier',
        secondary: config.applier.schema,
      })
      const applier = createApplier({ config, logger, metrics })
      await runService({
        stage: applier,
        session: config.session.name,
        logger,
        serve: metricsEndpoint(metrics, config.applier.metricsPort, () => applier.health()),
        announce: () => ({ schema: config.applier.schema, delayMs: config.applier.delayMs }),
      })
    })
}
