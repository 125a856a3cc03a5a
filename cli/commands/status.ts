/**
 * `xrc status`: where a session stands (see cli/status/collectStatus.ts).
 * Exit code 1 only when neither Kafka nor PostgreSQL could be read.
 */
import type { Command } from 'commander'
import { errorMessage } from '../../lib/errors.js'
import type { Pool } from '../../lib/postgres.js'
import { parseUrl } from '../args.js'
import type { GlobalOptions } from '../context.js'
import { jsonLine } from '../format.js'
import type { SessionStatus } from '../status/collectStatus.js'

interface StatusFlags {
  json?: boolean
  all?: boolean
  primary?: string
  mover?: string
  applier?: string
}

const SESSION_TOPIC = /^xrc\.(.+)\.(updates|journal)$/

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description(
      "where a session stands: controllers' latest times, consistency time, last applied group, " +
        'RPO now, lag per partition and of the journal, sidefile depth',
    )
    .option('--json', 'one JSON object per session (a line each)')
    .option('--all', 'every session found in Kafka, not only the configured one')
    .option('--primary <url>', "the primary's HTTP API (default: http://127.0.0.1:<producer.apiPort>)", parseUrl)
    .option(
      '--mover <url>',
      "the mover's metrics endpoint, for its health (default: from mover.metricsPort when set)",
      parseUrl,
    )
    .option(
      '--applier <url>',
      "the applier's metrics endpoint, for its health (default: from applier.metricsPort when set)",
      parseUrl,
    )
    .addHelpText(
      'after',
      `
Sources: record headers and offsets in Kafka (updates, journal, dead-letter
topics; the mover's committed offsets), the secondary's control row in
PostgreSQL, and the services' endpoints when they answer. What cannot be
read is listed under "unavailable" (JSON: "unavailable"). Times are session
clock microseconds since the epoch in JSON.`,
    )
    .action(async (flags: StatusFlags) => {
      const { cliConfig, commandLogger } = await import('../context.js')
      const { defaultSchemaName } = await import('../../lib/config.js')
      const { createKafkaClient } = await import('../../lib/kafka/index.js')
      const { createPool } = await import('../../lib/postgres.js')
      const { pingKafka } = await import('../../stack/kafka.js')
      const { checkPostgres } = await import('../../stack/postgres.js')
      const { configuredPrimary } = await import('../primaryClient.js')
      const { collectStatus } = await import('../status/collectStatus.js')
      const { formatStatus } = await import('../status/formatStatus.js')
      const config = cliConfig(program.opts<GlobalOptions>())
      const logger = commandLogger(program.opts<GlobalOptions>(), 'xrc-status')
      const kafkaReady = await pingKafka(config.kafka, 3000).then(
        () => undefined,
        (err: unknown) =>
          `no broker answers at ${config.kafka.brokers.join(',')} (KAFKA_BROKERS): ${errorMessage(err)}`,
      )
      const pgReady = await checkPostgres(config.database.url, 3000).then(
        () => undefined,
        (err: unknown) => errorMessage(err),
      )
      const kafka =
        kafkaReady === undefined
          ? createKafkaClient({
              connection: config.kafka,
              library: config.kafka.client,
              clientId: `${config.kafka.clientId}-status`,
              logger,
            })
          : undefined
      const admin = kafka?.admin()
      await admin?.connect()
      const pool: Pool | undefined =
        pgReady === undefined
          ? createPool({ url: config.database.url, logger, max: 2, applicationName: 'xrc-status' })
          : undefined
      try {
        const sessions = [config.session.name]
        if (flags.all && admin) {
          for (const t of await admin.listTopics()) {
            const name = SESSION_TOPIC.exec(t)?.[1]
            if (name && !sessions.includes(name)) sessions.push(name)
          }
        }
        const statuses: SessionStatus[] = []
        for (const session of sessions) {
          const configured = session === config.session.name
          const primary = configuredPrimary(config, flags.primary)
          const moverUrl =
            flags.mover ?? (config.mover.metricsPort ? `http://127.0.0.1:${config.mover.metricsPort}` : undefined)
          const applierUrl =
            flags.applier ?? (config.applier.metricsPort ? `http://127.0.0.1:${config.applier.metricsPort}` : undefined)
          statuses.push(
            await collectStatus({
              session,
              schema: configured ? config.applier.schema : defaultSchemaName(session),
              ...(configured ? { controllerIds: config.session.controllers.map((c) => c.id) } : {}),
              kafka: kafka && admin ? { kafka, admin } : { error: kafkaReady ?? 'not connected' },
              pool: pool ?? { error: pgReady ?? 'not connected' },
              registry: config.schemaRegistry,
              // the services' addresses are known for the configured session only
              ...(configured && primary ? { primary } : {}),
              ...(configured && moverUrl ? { moverUrl } : {}),
              ...(configured && applierUrl ? { applierUrl } : {}),
              logger,
            }),
          )
        }
        for (const s of statuses) console.log(flags.json ? jsonLine(s) : `${formatStatus(s)}\n`)
        if (kafkaReady !== undefined && pgReady !== undefined) process.exitCode = 1
      } finally {
        await admin?.disconnect()
        await pool?.end()
        logger.flush()
      }
    })
}
