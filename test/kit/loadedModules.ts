/**
 * Preloaded into a child process (`node --import <this file, built>`; see
 * modulesLoadedBy in test/kit/cli.ts), it says which modules the process
 * loaded: one line per module in the file named by TEST_LOADED_MODULES. ES
 * modules come from a resolve hook (test/kit/loadedModulesHooks.ts: every
 * module an import resolved, a CommonJS package imported from an ES module
 * too), CommonJS modules from the module cache on exit (also those a
 * CommonJS module required, which no hook sees). Paths are real paths, as
 * Node resolves them.
 */
import { appendFileSync } from 'node:fs'
import { createRequire, register } from 'node:module'

const file = process.env.TEST_LOADED_MODULES
if (file === undefined) throw new Error('test/kit/loadedModules.ts: TEST_LOADED_MODULES names no file')
register('./loadedModulesHooks.js', import.meta.url, { data: { file } })
const require = createRequire(import.meta.url)
process.on('exit', () => appendFileSync(file, Object.keys(require.cache).join('\n') + '\n'))
