/**
 * The module hooks test/kit/loadedModules.ts registers: each module an
 * import resolves to (a file: URL) is appended to `file` as a path, as it
 * loads. Hooks run on a thread of their own, so they write the file
 * themselves.
 */
import { appendFileSync } from 'node:fs'
import type { InitializeHook, ResolveHook } from 'node:module'
import { fileURLToPath } from 'node:url'

let file = ''

export const initialize: InitializeHook<{ file: string }> = (data) => {
  file = data.file
}

export const resolve: ResolveHook = async (specifier, context, next) => {
  const resolved = await next(specifier, context)
  if (resolved.url.startsWith('file:')) appendFileSync(file, `${fileURLToPath(resolved.url)}\n`)
  return resolved
}
