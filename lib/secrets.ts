/**
 * Secrets inside settings objects (the primary's API token, the schema
 * registry's password) are non-enumerable properties, as node-postgres keeps
 * its password: JSON, pino, util.inspect and a spread copy never show them,
 * so a logged or printed config cannot leak one. Whoever needs the secret
 * reads the property by name from the object itself.
 */

/** Sets `target[key] = value` as a non-enumerable, read-only property (nothing when `value` is undefined). */
export function hideSecret<T extends object>(target: T, key: string, value: string | undefined): T {
  if (value !== undefined) Object.defineProperty(target, key, { value, enumerable: false, writable: false })
  return target
}
