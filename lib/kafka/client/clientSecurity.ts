/** Kafka security on the client side: kafka.tls and kafka.sasl as kafkajs options (lib/config.ts checked them). */
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls'
import type { KafkaConfig, SASLOptions } from 'kafkajs'
import type { KafkaConnection } from '../../config.js'

/** kafkajs's `ssl` and `sasl` options for a connection (files read now). */
export function kafkajsSecurity(connection: KafkaConnection): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  const out: Pick<KafkaConfig, 'ssl' | 'sasl'> = {}
  const { tls, sasl } = connection
  if (tls !== undefined) {
    const ssl: ConnectionOptions = { rejectUnauthorized: true }
    if (tls.caFile !== undefined) ssl.ca = readFileSync(tls.caFile, 'utf8')
    if (tls.certFile !== undefined) ssl.cert = readFileSync(tls.certFile, 'utf8')
    if (tls.keyFile !== undefined) ssl.key = readFileSync(tls.keyFile, 'utf8')
    if (tls.servername !== undefined) ssl.servername = tls.servername
    // the chain is still checked (rejectUnauthorized); only the name in the certificate is not
    if (!tls.checkServerName) ssl.checkServerIdentity = () => undefined
    out.ssl = ssl
  }
  if (sasl !== undefined) {
    const mechanism = sasl.mechanism.toLowerCase() as 'plain' | 'scram-sha-256' | 'scram-sha-512'
    out.sasl = { mechanism, username: sasl.username, password: sasl.password } as SASLOptions
  }
  return out
}

/**
 * One TLS handshake with each broker in turn, as kafkajs would make it, until
 * one completes: rejects with the first failure that is the certificate's
 * (Node's error, its `code` such as SELF_SIGNED_CERT_IN_CHAIN) and resolves
 * otherwise, a broker out of reach included (that is an outage, kafkajs's to
 * ride out). kafkajs takes a failed handshake for a connection error and
 * retries it for seconds; this finds it in one attempt.
 */
export async function checkTlsHandshake(connection: KafkaConnection, timeoutMs = 5000): Promise<void> {
  const ssl = kafkajsSecurity(connection).ssl
  if (ssl === undefined || ssl === false) return
  for (const address of connection.brokers) {
    const at = address.lastIndexOf(':')
    const host = address.slice(0, at)
    const port = Number(address.slice(at + 1))
    const outcome = await new Promise<'done' | 'unreachable' | Error>((resolve) => {
      const socket = tlsConnect({
        host,
        port,
        ...(isIP(host) ? {} : { servername: host }),
        ...(ssl === true ? {} : ssl),
      })
      const timer = setTimeout(() => finish('unreachable'), timeoutMs)
      const finish = (result: 'done' | 'unreachable' | Error): void => {
        clearTimeout(timer)
        socket.destroy()
        resolve(result)
      }
      socket.once('secureConnect', () => finish('done'))
      socket.once('error', (err: NodeJS.ErrnoException) =>
        finish(err.code !== undefined && CONNECTION_CODES.has(err.code) ? 'unreachable' : err),
      )
    })
    if (outcome === 'done') return
    if (outcome instanceof Error) throw Object.assign(outcome, { broker: address })
  }
}

/** Socket errors that say a broker is out of reach, not that its TLS is wrong. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
])
