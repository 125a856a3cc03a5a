/**
 * The error catalogue. Every error xrc-kafka raises on purpose is an
 * {@link XrcError} with a stable `code` (callers and tests branch on it, never
 * on message text), a `retriable` flag (only {@link retry} looks at it), the
 * HTTP status an API answers it with, and context (session, controller,
 * partition, offset, group time): the fields its message is made of.
 *
 * The message text lives in the catalogue (lib/errorCatalogue.ts), not at
 * the call sites: each code has one or more templates, named by a `reason` (`default` is the one used when the
 * context names none). A template's `{name}` placeholders are the context
 * fields the call site must give, and TypeScript checks them per reason:
 *
 *     throw new XrcError('XRC_NOT_FOUND', { reason: 'topic', topic, session })
 *
 * `{cause}` is filled with the message of the context's `cause`, which also
 * becomes the error's `cause`. A template too long for one line is written as
 * parts, joined without a separator.
 *
 * Add a code or a template to the catalogue, never inline: lib/errors.test.ts
 * checks every template, lib/readmeTables.test.ts the README's table.
 */
import { ERROR_CODES, type Template } from './errorCatalogue.js'

export { ERROR_CODES, type Template } from './errorCatalogue.js'

export type ErrorCode = keyof typeof ERROR_CODES

/** Context carried by an error; printed by the CLI, logged as fields. */
export interface ErrorContext {
  /** Which template of its code made the message; `default` when absent. */
  reason?: string
  session?: string
  controller?: number
  volume?: string
  partition?: number
  offset?: string
  groupTime?: bigint | string
  setting?: string
  topic?: string
  [key: string]: unknown
}

/** What a placeholder takes; a list is shown joined with ", ". */
export type TemplateValue = string | number | bigint | boolean | readonly (string | number | bigint)[]

type PartsOf<T> = T extends readonly string[] ? T[number] : T extends string ? T : never
type Placeholders<S> = S extends `${string}{${infer P}}${infer Rest}` ? P | Placeholders<Rest> : never
/** The placeholders of template `T`, as an object type (`cause` takes any thrown value). */
export type TemplateContext<T> = { [P in Placeholders<PartsOf<T>>]: P extends 'cause' ? unknown : TemplateValue }

/** Context fields any template may be given besides its placeholders: logged as fields, not printed. */
type KnownKey = 'session' | 'controller' | 'volume' | 'partition' | 'offset' | 'groupTime' | 'setting' | 'topic'

type Messages<C extends ErrorCode> = (typeof ERROR_CODES)[C]['messages']
type Reasons<C extends ErrorCode> = keyof Messages<C> & string
type ContextFor<R extends string, T> = (R extends 'default' ? { reason?: 'default' } : { reason: R }) &
  TemplateContext<T> &
  Partial<Pick<ErrorContext, Exclude<KnownKey, Placeholders<PartsOf<T>>>>>

/**
 * The templates whose text TypeScript cannot see (a `'a' + 'b'` is a plain
 * string, so its placeholders would go unchecked): none, or the build fails
 * naming them. Write a long template as parts instead.
 */
type UntypedTemplates = {
  [C in ErrorCode]: { [R in Reasons<C>]: string extends PartsOf<Messages<C>[R]> ? `${C}.${R}` : never }[Reasons<C>]
}[ErrorCode]
const everyTemplateTyped: [UntypedTemplates] extends [never] ? true : UntypedTemplates = true
void everyTemplateTyped

/** The context a code takes: a `reason` naming one of its templates, and that template's fields. */
export type ContextOf<C extends ErrorCode> = { [R in Reasons<C>]: ContextFor<R, Messages<C>[R]> }[Reasons<C>]

export interface XrcErrorOptions {
  cause?: unknown
  /** Overrides the catalogue's flag for this one error. */
  retriable?: boolean
  /** Fields for logs and callers beyond the template's (say, whether a write was certainly not taken). */
  context?: ErrorContext
}

/** Base class of every error raised on purpose. */
export class XrcError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C
  readonly retriable: boolean
  readonly context: ErrorContext

  /** The message is the code's template (the context's `reason`) filled from the context. */
  constructor(code: C, context: ContextOf<C>, options?: XrcErrorOptions)
  /**
   * A message written at the call site. Kept so call sites not yet migrated
   * compile; new code passes context.
   * @deprecated pass the template's context instead of a message.
   */
  constructor(code: C, message: string, options?: XrcErrorOptions)
  constructor(code: C, contextOrMessage: ContextOf<C> | string, options: XrcErrorOptions = {}) {
    const given = typeof contextOrMessage === 'string' ? undefined : (contextOrMessage as Record<string, unknown>)
    const cause = given !== undefined && 'cause' in given ? given.cause : options.cause
    super(
      given === undefined ? (contextOrMessage as string) : formatMessage(code, given),
      cause === undefined ? undefined : { cause },
    )
    this.name = 'XrcError'
    this.code = code
    this.retriable = options.retriable ?? ERROR_CODES[code].retriable
    if (given === undefined) {
      this.context = options.context ?? {}
    } else {
      const { cause: _cause, ...context } = given
      this.context = { ...options.context, ...context }
    }
  }

  /** The HTTP status an API answers this error with. */
  get status(): number {
    return ERROR_CODES[this.code].status
  }

  /**
   * An error whose message was rendered elsewhere (another process's
   * answer); its code is taken when the catalogue knows it, else `fallback`.
   */
  static rendered(
    code: string | undefined,
    message: string,
    fallback: ErrorCode,
    options: XrcErrorOptions = {},
  ): XrcError {
    const known = code !== undefined && Object.hasOwn(ERROR_CODES, code) ? (code as ErrorCode) : fallback
    return new XrcError<ErrorCode>(known, message, options)
  }
}

/** The template of `code` that `reason` names (`default` when undefined), or undefined. */
export function templateOf(code: ErrorCode, reason: string | undefined): Template | undefined {
  const messages: Readonly<Record<string, Template>> = ERROR_CODES[code].messages
  return Object.hasOwn(messages, reason ?? 'default') ? messages[reason ?? 'default'] : undefined
}

/** The placeholder names of a template, in order of first use. */
export function placeholders(template: Template): string[] {
  const text = typeof template === 'string' ? template : template.join('')
  return [...new Set([...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string))]
}

/**
 * `code`'s message for `context`. A placeholder the context lacks stays as
 * `{name}` rather than failing: this runs while an error is being raised, and
 * a second error would hide the first (the catalogue test keeps it from
 * happening).
 */
export function formatMessage(code: ErrorCode, context: Readonly<Record<string, unknown>>): string {
  const reason = typeof context.reason === 'string' ? context.reason : undefined
  const template = templateOf(code, reason)
  if (template === undefined) return `${code} (no template "${reason ?? 'default'}")`
  const text = typeof template === 'string' ? template : template.join('')
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => {
    if (!Object.hasOwn(context, name)) return whole
    const value = context[name]
    if (name === 'cause') return errorMessage(value)
    return Array.isArray(value) ? value.join(', ') : String(value)
  })
}

/** One setting that failed validation. */
export interface ConfigIssue {
  setting: string
  message: string
}

/** All config violations at once, each naming its setting. */
export class ConfigError extends XrcError<'XRC_CONFIG_INVALID'> {
  readonly issues: readonly ConfigIssue[]
  constructor(issues: ConfigIssue[]) {
    super('XRC_CONFIG_INVALID', {
      reason: 'issues',
      issues: issues.map((i) => `  - ${i.setting}: ${i.message}`).join('\n'),
    })
    this.name = 'ConfigError'
    this.issues = issues
  }
}

/** True when `err` is an XrcError with the given code. */
export function isXrcError<C extends ErrorCode>(err: unknown, code?: C): err is XrcError<C> {
  return err instanceof XrcError && (code === undefined || err.code === code)
}

/** Message of any thrown value, for logs and CLI output. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
