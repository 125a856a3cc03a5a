import { randomBytes } from 'node:crypto'

/**
 * A name no other test (or earlier run) uses: every test gets its own
 * topics, consumer groups, registry subjects and PostgreSQL schema.
 * Lower-case letters, digits and underscores, so it is valid everywhere.
 */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid.toString(36)}_${randomBytes(4).toString('hex')}`
}
