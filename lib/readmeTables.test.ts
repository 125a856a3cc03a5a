import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { ENV_VARS } from './config.js'
import { ERROR_CODES } from './errors.js'
import { generatedSections, readSection, replaceSection, settingDocs } from './readmeTables.js'

const README = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8')

describe('README and code agree (run `npm run docs` to regenerate)', () => {
  for (const [name, body] of Object.entries(generatedSections())) {
    it(`the ${name} table is the one generated from the code`, () => {
      expect(readSection(README, name), `README section "${name}" is stale: run npm run docs`).toBe(body)
    })
  }

  it('documents every setting with a description', () => {
    const undocumented = settingDocs()
      .filter((d) => !d.description)
      .map((d) => d.setting)
    expect(undocumented).toEqual([])
  })

  it('maps every environment variable to a setting of the schema', () => {
    const settings = new Set(settingDocs().map((d) => d.setting))
    expect(
      Object.values(ENV_VARS)
        .map((v) => v.path)
        .filter((p) => !settings.has(p)),
    ).toEqual([])
  })

  it('lists every error code in the catalogue table', () => {
    const table = readSection(README, 'errors') ?? ''
    expect(Object.keys(ERROR_CODES).filter((code) => !table.includes(`\`${code}\``))).toEqual([])
  })
})

describe('sections', () => {
  it('replaces only the marked body', () => {
    const text = 'a\n<!-- generated:x -->\nold\n<!-- /generated:x -->\nb\n'
    expect(replaceSection(text, 'x', 'new')).toBe('a\n<!-- generated:x -->\nnew\n<!-- /generated:x -->\nb\n')
    expect(readSection(text, 'x')).toBe('old')
    expect(() => replaceSection('none', 'x', 'y')).toThrow(/generated:x/)
  })
})
