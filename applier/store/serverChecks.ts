/**
 * What the applier checks of its PostgreSQL server when it starts: settings
 * under which the secondary store cannot stay what the product promises.
 * Each is a warning, not a refusal: the server is the operator's, and an
 * image applied under it is still whole and in order.
 *
 *   autovacuum off      every replaced block leaves its old row (and its
 *                       TOAST chunks) dead; only VACUUM makes that space
 *                       reusable, so a store whose blocks are rewritten
 *                       grows by about one block per replaced block, without
 *                       bound. Measured on a 524,288-block store after
 *                       200,000 replacements: 3,894 MiB without VACUUM,
 *                       2,968 MiB with one every 25,000.
 *   fsync off, full_page_writes off
 *                       a crash of the server can leave torn or lost pages:
 *                       the image is then not any group's, and the control
 *                       row may not match the blocks.
 *
 * Pure: the applier reads the settings (SERVER_SETTINGS_SQL) and logs what
 * this returns.
 */

/** The settings read, by name, as pg_settings' `setting` column gives them ('on' / 'off' for booleans). */
export type ServerSettings = Readonly<Record<string, string>>

/** The names serverWarnings looks at. */
export const CHECKED_SETTINGS = ['autovacuum', 'fsync', 'full_page_writes'] as const

/** $1 the names: `name`, `setting` of each. */
export const SERVER_SETTINGS_SQL = 'SELECT name, setting FROM pg_settings WHERE name = ANY($1)'

/** One warning: what is wrong and what to do, and the fields to log with it. */
export interface ServerWarning {
  message: string
  fields: { setting: string; value: string; table: string }
}

/**
 * The warnings for `settings` (a name missing from them is not judged). `blockRows` is the table whose growth or
 * pages are at stake, named in each warning.
 */
export function serverWarnings(settings: ServerSettings, blockRows: string): ServerWarning[] {
  const out: ServerWarning[] = []
  const off = (name: string): boolean => settings[name] === 'off'
  if (off('autovacuum')) {
    out.push({
      message:
        `the PostgreSQL server runs with autovacuum off: every replaced block leaves a dead row that only VACUUM ` +
        `makes reusable, so ${blockRows} grows by about one block per replaced block; turn autovacuum on ` +
        `(postgresql.conf) or run VACUUM ${blockRows} regularly`,
      fields: { setting: 'autovacuum', value: 'off', table: blockRows },
    })
  }
  for (const name of ['fsync', 'full_page_writes'] as const) {
    if (!off(name)) continue
    out.push({
      message:
        `the PostgreSQL server runs with ${name} off: a crash of the server can tear or lose pages of ` +
        `${blockRows}, and the secondary is then no group's image; turn ${name} on for a secondary you may ` +
        `fail over to`,
      fields: { setting: name, value: 'off', table: blockRows },
    })
  }
  return out
}
