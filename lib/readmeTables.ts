/**
 * The README's generated sections: every setting of the config schema (with
 * its environment variable, default and description), the error
 * catalogue, and each stage's Kafka ACLs as commands. They are generated, never hand-written, so the documentation
 * cannot drift from the code: `npm run docs` rewrites the README's marked
 * sections, and lib/readmeTables.test.ts fails when they disagree.
 *
 * A section sits between `<!-- generated:NAME -->` and
 * `<!-- /generated:NAME -->` on lines of their own.
 */
import { z } from 'zod'
import { ConfigSchema, ENV_VARS } from './config.js'
import { ERROR_CODES } from './errors.js'
import { STAGES, kafkaAclsCommands, stageAcls } from './kafka/stageAcls.js'

/** One documented setting. */
export interface SettingDoc {
  /** Dotted path, e.g. `mover.groupIntervalMs`. */
  setting: string
  /** Environment variable that sets it, when there is one. */
  env: string | undefined
  /** The default as JSON, or undefined when the setting is derived or optional. */
  default: unknown
  description: string | undefined
}

interface JsonSchemaNode {
  type?: string | string[]
  properties?: Record<string, JsonSchemaNode>
  default?: unknown
  description?: string
}

/** Every leaf setting of the config schema, in schema order. */
export function settingDocs(): SettingDoc[] {
  const root = z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchemaNode
  const envOf = new Map(Object.entries(ENV_VARS).map(([env, spec]) => [spec.path, env]))
  const out: SettingDoc[] = []
  const walk = (node: JsonSchemaNode, path: string[]): void => {
    // sections are objects with properties; anything else (arrays of controllers included) is one setting
    if (node.type === 'object' && node.properties) {
      for (const [key, child] of Object.entries(node.properties)) walk(child, [...path, key])
      return
    }
    const setting = path.join('.')
    out.push({ setting, env: envOf.get(setting), default: node.default, description: node.description })
  }
  walk(root, [])
  return out
}

function cell(text: string): string {
  // a table cell is inline markdown: a bare <word> would be read as an HTML tag
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ').replace(/</g, '&lt;')
}

function formatDefault(doc: SettingDoc): string {
  const value = doc.default
  if (value === undefined) return '(derived)'
  if (typeof value === 'object' && value !== null) return '(see description)'
  if (typeof value === 'number' && value >= 1 << 20 && value % (1 << 20) === 0 && /Bytes$/.test(doc.setting))
    return `\`${value}\` (${value / (1 << 20)} MiB)`
  if (typeof value === 'number' && value >= 1 << 10 && value % (1 << 10) === 0 && /Bytes$/.test(doc.setting))
    return `\`${value}\` (${value / (1 << 10)} KiB)`
  return `\`${String(value)}\``
}

/** The configuration table (markdown). */
export function configTable(): string {
  const rows = settingDocs().map(
    (d) => `| \`${d.setting}\` | ${d.env ? `\`${d.env}\`` : ''} | ${formatDefault(d)} | ${cell(d.description ?? '')} |`,
  )
  return ['| setting | environment | default | description |', '| --- | --- | --- | --- |', ...rows].join('\n')
}

/** The error catalogue table (markdown). */
export function errorTable(): string {
  const rows = Object.entries(ERROR_CODES).map(
    ([code, spec]) => `| \`${code}\` | ${spec.retriable ? 'yes' : 'no'} | ${spec.status} | ${cell(spec.doc)} |`,
  )
  return ['| code | retriable | HTTP status | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n')
}

/** The ACLs of each stage of session `demo` as kafka-acls.sh commands (a shell block). */
export function aclCommands(): string {
  const lines = STAGES.flatMap((stage) => [
    `# ${stage}`,
    ...kafkaAclsCommands(stageAcls('demo', stage), `User:xrc-${stage}`, 'admin.properties'),
  ])
  return ['```sh', ...lines, '```'].join('\n')
}

/** The generated sections by name. */
export function generatedSections(): Record<string, string> {
  return { config: configTable(), errors: errorTable(), acls: aclCommands() }
}

/** The body of section `name` in `text`, or undefined when its markers are missing. */
export function readSection(text: string, name: string): string | undefined {
  const m = sectionPattern(name).exec(text)
  return m ? (m[2] as string).trim() : undefined
}

/** `text` with section `name` replaced by `body`; throws when its markers are missing. */
export function replaceSection(text: string, name: string, body: string): string {
  const pattern = sectionPattern(name)
  if (!pattern.test(text))
    throw new Error(`README has no <!-- generated:${name} --> ... <!-- /generated:${name} --> markers`)
  return text.replace(pattern, (_all, open: string, _body: string, close: string) => `${open}\n${body}\n${close}`)
}

function sectionPattern(name: string): RegExp {
  return new RegExp(`(<!-- generated:${name} -->)\\n([\\s\\S]*?)\\n?(<!-- /generated:${name} -->)`)
}
