/**
 * TLS material for a secured local Kafka, made when it is needed with
 * Debian's openssl: a CA, a broker certificate it signs for 127.0.0.1 and
 * localhost (PEM, and a PKCS#12 keystore and truststore for Kafka), a
 * client certificate, and a second CA that signed nothing the broker shows
 * (what an untrusted CA looks like to a client). Nothing of it is
 * committed: it lives in the folder given, files 0600.
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'

/** The files made, by role. */
export interface TlsMaterial {
  dir: string
  /** PEM certificate of the CA that signed the broker's and the client's certificates. */
  caFile: string
  /** PEM certificate of another CA, which signed nothing the broker shows. */
  otherCaFile: string
  /** The broker's keystore (PKCS#12: its key and certificate chain) and truststore (the CA). */
  keystoreFile: string
  truststoreFile: string
  /** Password of both stores. */
  storePassword: string
  /** PEM client certificate and key (mutual TLS). */
  clientCertFile: string
  clientKeyFile: string
}

// P-256 keys: made in milliseconds where RSA takes seconds on a busy machine
const DAYS = '30'

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
}

/**
 * A self-signed certificate `<name>.pem` with its P-256 key `<name>.key` in
 * `dir`, for `subject`; `extra` adds openssl req options (an -addext
 * subjectAltName, say). A CA of the stack's, or a test server's certificate.
 */
export function selfSigned(dir: string, name: string, subject: string, extra: readonly string[] = []): void {
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    DAYS,
    '-subj',
    subject,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.pem`,
    ...extra,
  ])
}

/**
 * Makes (or finds, when `dir` holds them already) the TLS material for
 * brokers reached at 127.0.0.1 or localhost, or at one of `hosts` (the
 * names containers reach each other by).
 */
export function makeTlsMaterial(dir: string, hosts: readonly string[] = []): TlsMaterial {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const material: TlsMaterial = {
    dir,
    caFile: join(dir, 'ca.pem'),
    otherCaFile: join(dir, 'other-ca.pem'),
    keystoreFile: join(dir, 'broker.p12'),
    truststoreFile: join(dir, 'truststore.p12'),
    storePassword: '',
    clientCertFile: join(dir, 'client.pem'),
    clientKeyFile: join(dir, 'client.key'),
  }
  const passwordFile = join(dir, 'store.password')
  if (existsSync(passwordFile) && existsSync(material.truststoreFile)) {
    material.storePassword = readFileSync(passwordFile, 'utf8').trim()
    return material
  }
  const password = randomBytes(12).toString('hex')
  writeFileSync(passwordFile, password, { mode: 0o600 })
  material.storePassword = password
  for (const ca of ['ca', 'other-ca']) selfSigned(dir, ca, `/CN=xrc test ${ca}`)
  writeFileSync(
    join(dir, 'broker.ext'),
    `subjectAltName=${['IP:127.0.0.1', 'DNS:localhost', ...hosts.map((h) => `DNS:${h}`)].join(',')}\n` +
      'extendedKeyUsage=serverAuth,clientAuth\n',
  )
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n')
  for (const [name, subject] of [
    ['broker', '/CN=localhost'],
    ['client', '/CN=xrc-client'],
  ] as const) {
    openssl(dir, [
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      subject,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
    ])
    openssl(dir, [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      DAYS,
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.pem`,
    ])
  }
  openssl(dir, [
    'pkcs12',
    '-export',
    '-in',
    'broker.pem',
    '-inkey',
    'broker.key',
    '-certfile',
    'ca.pem',
    '-name',
    'broker',
    '-passout',
    `pass:${password}`,
    '-out',
    'broker.p12',
  ])
  // a truststore of certificates only: keytool (the JDK's) writes one Java reads as trusted entries
  execFileSync(
    'keytool',
    [
      '-importcert',
      '-noprompt',
      '-alias',
      'xrc-ca',
      '-file',
      'ca.pem',
      '-keystore',
      'truststore.p12',
      '-storetype',
      'PKCS12',
      '-storepass',
      password,
    ],
    { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
  )
  for (const f of readdirSync(dir)) chmodSync(join(dir, f), 0o600)
  return material
}
