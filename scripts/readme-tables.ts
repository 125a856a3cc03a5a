/**
 * `npm run docs`: rewrites the README's generated sections (the settings
 * table from the config schema, the error catalogue) in place.
 * lib/readmeTables.test.ts fails while they are out of date.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { generatedSections, replaceSection } from '../lib/readmeTables.js'

const readme = fileURLToPath(new URL('../README.md', import.meta.url))
const before = readFileSync(readme, 'utf8')
let after = before
for (const [name, body] of Object.entries(generatedSections())) after = replaceSection(after, name, body)
if (after === before) {
  console.log('README.md: generated sections already up to date')
} else {
  writeFileSync(readme, after)
  console.log('README.md: generated sections rewritten')
}
