import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, expectTypeOf, it } from 'vitest'
import { readSection } from './readmeTables.js'
import {
  ConfigError,
  ERROR_CODES,
  XrcError,
  formatMessage,
  isXrcError,
  placeholders,
  type ContextOf,
  type ErrorCode,
  type Template,
} from './errors.js'

const README = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8')
const codes = Object.keys(ERROR_CODES) as ErrorCode[]
const templates = codes.flatMap((code) =>
  Object.entries(ERROR_CODES[code].messages as Record<string, Template>).map(([reason, template]) => ({
    code,
    reason,
    template,
  })),
)

describe('the error catalogue', () => {
  it.each(codes)('%s has a template, an HTTP status and a documented meaning', (code) => {
    const spec = ERROR_CODES[code]
    expect(Object.keys(spec.messages).length).toBeGreaterThan(0)
    expect(Number.isInteger(spec.status) && spec.status >= 400 && spec.status <= 599).toBe(true)
    expect(spec.doc.length).toBeGreaterThan(0)
    const row = (readSection(README, 'errors') ?? '').split('\n').find((line) => line.startsWith(`| \`${code}\` |`))
    expect(row, `README's error table has no row for ${code}: run npm run docs`).toContain(String(spec.status))
  })

  it.each(templates.map((t) => [`${t.code}.${t.reason}`, t] as const))(
    '%s: every placeholder is filled from its context',
    (_name, { code, reason, template }) => {
      const names = placeholders(template)
      const text = typeof template === 'string' ? template : template.join('')
      // a brace that is not a {name} placeholder would not be filled, nor typed
      expect(text.replace(/\{\w+\}/g, '')).not.toMatch(/[{}]/)
      const context: Record<string, unknown> = { reason }
      for (const name of names) context[name] = name === 'cause' ? new Error(`<${name}>`) : `<${name}>`
      const message = formatMessage(code, context)
      expect(message).not.toMatch(/\{\w+\}/)
      for (const name of names) expect(message).toContain(`<${name}>`)
    },
  )

  it('leaves a missing placeholder visible instead of failing while an error is raised', () => {
    expect(formatMessage('XRC_CLOSED', {})).toBe('{component} is closed')
    expect(formatMessage('XRC_CLOSED', { reason: 'nope' })).toBe('XRC_CLOSED (no template "nope")')
  })
})

describe('XrcError', () => {
  it('renders the template the reason names, keeps the context, takes the cause from it', () => {
    const cause = new Error('connection refused')
    const err = new XrcError('XRC_KAFKA_UNREACHABLE', { brokers: ['a:9092', 'b:9092'], cause })
    expect(err.message).toBe(
      'no Kafka broker answers at a:9092, b:9092 (kafka.brokers, KAFKA_BROKERS): connection refused',
    )
    expect(err.cause).toBe(cause)
    expect(err.context).toEqual({ brokers: ['a:9092', 'b:9092'] })
    expect(err.retriable).toBe(true)
    expect(err.status).toBe(503)

    const notFound = new XrcError('XRC_NOT_FOUND', { reason: 'topic', topic: 'xrc.a.journal', session: 'a' })
    expect(notFound.message).toBe(
      'topic xrc.a.journal does not exist: is the session name right (--session, session.name)?',
    )
    expect(notFound.context).toEqual({ reason: 'topic', topic: 'xrc.a.journal', session: 'a' })
    expect(isXrcError(notFound, 'XRC_NOT_FOUND')).toBe(true)
    expect(notFound.status).toBe(404)
  })

  it('still takes a message written at the call site (for call sites not yet migrated)', () => {
    const err = new XrcError('XRC_USAGE', 'bad', { context: { controller: 1 }, retriable: true })
    expect(err).toMatchObject({ message: 'bad', code: 'XRC_USAGE', context: { controller: 1 }, retriable: true })
  })

  it('keeps a message rendered by another process, and its code when the catalogue knows it', () => {
    expect(XrcError.rendered('XRC_SIDEFILE_FULL', 'full', 'XRC_USAGE')).toMatchObject({
      code: 'XRC_SIDEFILE_FULL',
      message: 'full',
      retriable: true,
    })
    expect(XrcError.rendered('toString', 'x', 'XRC_USAGE').code).toBe('XRC_USAGE')
  })

  it('lists every config issue', () => {
    const err = new ConfigError([
      { setting: 'a.b', message: 'required' },
      { setting: 'c', message: 'too small' },
    ])
    expect(err.message).toBe('invalid configuration:\n  - a.b: required\n  - c: too small')
    expect(err.code).toBe('XRC_CONFIG_INVALID')
  })

  it('types the context per template', () => {
    expectTypeOf<{ reason: 'topic'; topic: string }>().toExtend<ContextOf<'XRC_NOT_FOUND'>>()
    expectTypeOf<{ reason: 'topic' }>().not.toExtend<ContextOf<'XRC_NOT_FOUND'>>()
    expectTypeOf<{ reason: 'nope'; topic: string }>().not.toExtend<ContextOf<'XRC_NOT_FOUND'>>()
    // a code with a default template needs no reason
    expectTypeOf<{ component: string }>().toExtend<ContextOf<'XRC_CLOSED'>>()
    expectTypeOf<{ component: { x: 1 } }>().not.toExtend<ContextOf<'XRC_CLOSED'>>()
  })
})
