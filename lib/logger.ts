import { pino, type Logger } from 'pino'

export type { Logger }

/**
 * The root logger of a process. Components take a child with their own
 * bindings (`logger.child({ component: 'mover', session })`) so that every
 * line carries its context. Secrets are redacted by path.
 */
export function createLogger(options: { level: string; name?: string; destination?: number }): Logger {
  return pino(
    {
      name: options.name ?? 'xrc',
      level: options.level,
      redact: {
        paths: [
          'password',
          '*.password',
          'databaseUrl',
          '*.databaseUrl',
          'connectionString',
          '*.connectionString',
          'apiToken',
          '*.apiToken',
          'authorization',
          '*.authorization',
          '*.headers.authorization',
        ],
        censor: '***',
      },
      serializers: { err: pino.stdSerializers.err },
      // bigint times (microseconds) are logged as strings
      formatters: { log: (obj) => stringifyBigints(obj) },
    },
    pino.destination({ dest: options.destination ?? 2, sync: false }),
  )
}

function stringifyBigints(obj: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined
  for (const [k, v] of Object.entries(obj)) {
    if (typeof v === 'bigint') {
      out ??= { ...obj }
      out[k] = v.toString()
    }
  }
  return out ?? obj
}

/** A logger that writes nothing, for library callers that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' })
