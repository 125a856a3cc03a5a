/**
 * What every command needs from the command line: the configuration (file,
 * environment, flags, in that order of increasing precedence) and a logger.
 * The only place that reads process.env.
 */
import { loadConfig, type Config } from '../lib/config.js'
import { XrcError } from '../lib/errors.js'
import { createLogger, type Logger } from '../lib/logger.js'

export interface GlobalOptions {
  config?: string
  session?: string
  logLevel?: string
}

export function cliConfig(opts: GlobalOptions, overrides: Record<string, unknown> = {}): Config {
  const flagOverrides: Record<string, unknown> = { ...overrides }
  if (opts.session) flagOverrides.session = { ...(overrides.session as object | undefined), name: opts.session }
  if (opts.logLevel) flagOverrides.log = { level: opts.logLevel }
  return loadConfig({ ...(opts.config ? { file: opts.config } : {}), env: process.env, overrides: flagOverrides })
}

/** The volume of the session named `volume`; XRC_USAGE listing the session's volumes when there is none. */
export function volumeOf(config: Config, volume: string): { name: string; blocks: number } {
  const volumes = config.session.controllers.flatMap((c) => c.volumes)
  const v = volumes.find((x) => x.name === volume)
  if (v === undefined)
    throw new XrcError('XRC_USAGE', {
      reason: 'unknownVolume',
      volume,
      session: config.session.name,
      volumes: volumes.map((x) => x.name),
    })
  return v
}

export function cliLogger(config: Config, name: string): Logger {
  return createLogger({ level: config.log.level, name })
}

/**
 * The logger of a one-shot command (status, audit, replay, write, volume):
 * its output is for people, so it logs warnings and errors only unless
 * --log-level or LOG_LEVEL asks for more (log.level in a config file is for
 * the services). Logs go to stderr either way.
 */
export function commandLogger(opts: GlobalOptions, name: string): Logger {
  const level = opts.logLevel ?? process.env.LOG_LEVEL ?? ''
  return createLogger({ level: level === '' ? 'warn' : level, name })
}
