/**
 * The Kafka security settings (kafka.tls, kafka.sasl): their schema, the
 * checks across settings and files that a schema cannot make, and the
 * resolved form every Kafka client is made from. Part of lib/config.ts, kept
 * apart so the config file stays one concept per file.
 *
 * The SASL password is a non-enumerable property of the resolved object, as
 * node-postgres keeps its password: JSON, pino and util.inspect never show
 * it, so a logged or printed config cannot leak it. Pass the object itself to
 * whoever needs the password; a spread copy has none.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { z } from 'zod'
import type { ConfigIssue } from './errors.js'

const file = z.string().min(1)

export const KafkaTlsSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(false)
      .describe('Connect to Kafka over TLS; on by itself when kafka.tls.caFile, certFile or keyFile is set'),
    caFile: file
      .optional()
      .describe(
        "PEM file of the certificate authorities the brokers' certificates are checked against; default: " +
          "Node's bundled public CAs",
      ),
    certFile: file
      .optional()
      .describe('PEM client certificate for mutual TLS (ssl.client.auth=required); needs kafka.tls.keyFile'),
    keyFile: file
      .optional()
      .describe(
        'PEM private key of kafka.tls.certFile, unencrypted (keep the file 0600); its contents are never logged',
      ),
    servername: z
      .string()
      .min(1)
      .optional()
      .describe("Name the brokers' certificates must hold (TLS SNI); default: the host of each broker address"),
    checkServerName: z
      .boolean()
      .default(true)
      .describe(
        "Check that each broker's certificate names the host connected to (or kafka.tls.servername); false " +
          'still checks the chain against the CA, but lets any certificate that CA signed stand for any broker',
      ),
  })
  .prefault({})

/** Kafka's names of the SASL mechanisms xrc speaks. */
export const SASL_MECHANISMS = ['SCRAM-SHA-512', 'SCRAM-SHA-256', 'PLAIN'] as const
export type SaslMechanism = (typeof SASL_MECHANISMS)[number]

export const KafkaSaslSchema = z
  .strictObject({
    mechanism: z
      .enum(SASL_MECHANISMS)
      .optional()
      .describe(
        'SASL mechanism to authenticate to Kafka with: SCRAM-SHA-512 (recommended), SCRAM-SHA-256, or PLAIN ' +
          '(only over TLS: it sends the password as it is); unset = no SASL',
      ),
    username: z.string().min(1).optional().describe('SASL user name (the principal User:NAME the ACLs name)'),
    password: z
      .string()
      .min(1)
      .optional()
      .describe(
        'SASL password; give it in XRC_KAFKA_SASL_PASSWORD rather than in a file that is shared; never logged, ' +
          'printed or kept in an error',
      ),
  })
  .prefault({})

/** TLS towards Kafka, resolved: present only when TLS is on. */
export interface KafkaTls {
  readonly caFile?: string
  readonly certFile?: string
  readonly keyFile?: string
  readonly servername?: string
  readonly checkServerName: boolean
}

/** SASL towards Kafka, resolved; `password` is non-enumerable. */
export interface KafkaSasl {
  readonly mechanism: SaslMechanism
  readonly username: string
  readonly password: string
}

type TlsInput = z.infer<typeof KafkaTlsSchema>
type SaslInput = z.infer<typeof KafkaSaslSchema>

/**
 * The resolved security settings, or the issues that keep them from being
 * resolved (pushed onto `issues`, each naming its setting). Files are read
 * here, once, so that a missing or unreadable one is a config error at
 * start-up naming its path, not a TLS failure later.
 */
export function resolveKafkaSecurity(
  input: { tls: TlsInput; sasl: SaslInput },
  issues: ConfigIssue[],
): { tls: KafkaTls | undefined; sasl: KafkaSasl | undefined } {
  const t = input.tls
  const tlsOn = t.enabled || t.caFile !== undefined || t.certFile !== undefined || t.keyFile !== undefined
  if (t.certFile !== undefined && t.keyFile === undefined)
    issues.push({ setting: 'kafka.tls.keyFile', message: 'kafka.tls.certFile needs its private key here' })
  if (t.keyFile !== undefined && t.certFile === undefined)
    issues.push({ setting: 'kafka.tls.certFile', message: 'kafka.tls.keyFile needs its certificate here' })
  if (t.caFile !== undefined) checkPem('kafka.tls.caFile', t.caFile, 'certificate', issues)
  if (t.certFile !== undefined) checkPem('kafka.tls.certFile', t.certFile, 'certificate', issues)
  if (t.keyFile !== undefined) checkPem('kafka.tls.keyFile', t.keyFile, 'key', issues)

  const s = input.sasl
  let sasl: KafkaSasl | undefined
  if (s.mechanism === undefined) {
    if (s.username !== undefined || s.password !== undefined)
      issues.push({
        setting: 'kafka.sasl.mechanism',
        message: 'a SASL user name or password is set but no mechanism (SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN)',
      })
  } else {
    if (s.username === undefined)
      issues.push({ setting: 'kafka.sasl.username', message: `SASL ${s.mechanism} needs a user name` })
    if (s.password === undefined)
      issues.push({
        setting: 'kafka.sasl.password',
        message: `SASL ${s.mechanism} needs a password (XRC_KAFKA_SASL_PASSWORD)`,
      })
    if (s.mechanism === 'PLAIN' && !tlsOn)
      issues.push({
        setting: 'kafka.sasl.mechanism',
        message: 'PLAIN sends the password as it is: it needs TLS (kafka.tls.enabled, XRC_KAFKA_TLS=true)',
      })
    if (s.username !== undefined && s.password !== undefined) sasl = saslSettings(s.mechanism, s.username, s.password)
  }
  const tls: KafkaTls | undefined = tlsOn
    ? {
        ...(t.caFile !== undefined ? { caFile: t.caFile } : {}),
        ...(t.certFile !== undefined ? { certFile: t.certFile } : {}),
        ...(t.keyFile !== undefined ? { keyFile: t.keyFile } : {}),
        ...(t.servername !== undefined ? { servername: t.servername } : {}),
        checkServerName: t.checkServerName,
      }
    : undefined
  return { tls, sasl }
}

/** SASL settings whose password no enumeration, JSON or inspection shows. */
export function saslSettings(mechanism: SaslMechanism, username: string, password: string): KafkaSasl {
  const sasl = { mechanism, username } as KafkaSasl
  Object.defineProperty(sasl, 'password', { value: password, enumerable: false })
  return Object.freeze(sasl)
}

/**
 * Checks that `path` is a readable PEM certificate or private key, pushing an issue naming `setting` and the
 * path when not (the Kafka TLS files; the registry's CA file too).
 */
export function checkPem(setting: string, path: string, kind: 'certificate' | 'key', issues: ConfigIssue[]): void {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err))
    issues.push({ setting, message: `cannot read ${path} (${why})` })
    return
  }
  try {
    if (kind === 'certificate') {
      if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no "BEGIN CERTIFICATE" block')
      new X509Certificate(text)
    } else {
      createPrivateKey(text)
    }
  } catch (err) {
    // the parser's message only: a key's text must never reach an error
    const why = err instanceof Error ? err.message : 'unparseable'
    issues.push({ setting, message: `${path} is not a PEM ${kind} (${why})` })
  }
}
