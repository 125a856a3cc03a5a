/**
 * Where the NBD server listens, as pure functions of its settings: the URL
 * of the TCP listener, and whether (and where) it has a Unix socket. The
 * server (nbdServer.ts) listens as these answer.
 */

/** The longest Unix socket path Linux takes (sun_path less its NUL). */
export const MAX_SOCKET_PATH = 107

/** The nbd:// URL of a TCP listener; an IPv6 host goes in brackets. */
export function tcpUrlOf(host: string, port: number): string {
  return `nbd://${host.includes(':') ? `[${host}]` : host}:${port}`
}

/** What to do about the Unix socket. */
export type SocketPlan =
  /** nbd.socket is '-': no Unix socket. */
  | { kind: 'none' }
  /** Listen on `path`. */
  | { kind: 'listen'; path: string }
  /** The path is longer than a Unix socket takes: refuse to start when it was set, else serve TCP only (a warning). */
  | { kind: 'too-long'; path: string; explicit: boolean }

/** The plan for nbd.socket: '-' none, '' the default path, anything else that path. */
export function socketPlan(setting: string, defaultPath: string): SocketPlan {
  if (setting === '-') return { kind: 'none' }
  const path = setting || defaultPath
  if (Buffer.byteLength(path) <= MAX_SOCKET_PATH) return { kind: 'listen', path }
  return { kind: 'too-long', path, explicit: setting !== '' }
}
