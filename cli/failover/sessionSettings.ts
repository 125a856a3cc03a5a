/**
 * The config of the session a failover (or failback) starts: the old
 * session's config file as the operator wrote it (so nothing the loader
 * filled in, and no secret from the environment, is written out), with the
 * session's name, data folder and secondary schema replaced. Pure.
 */

/** What changes between the old session's settings and the new one's. */
export interface SessionMove {
  name: string
  dataDir: string
  schema: string
}

/** The settings of the new session: `raw` (a config file's JSON) with the session and applier.schema replaced. */
export function movedSessionSettings(raw: unknown, move: SessionMove): Record<string, unknown> {
  const settings = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>
  const object = (v: unknown): Record<string, unknown> =>
    typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {}
  return {
    ...settings,
    session: { ...object(settings.session), name: move.name, dataDir: move.dataDir },
    applier: { ...object(settings.applier), schema: move.schema },
  }
}
