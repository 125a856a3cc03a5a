/**
 * Background service processes of the local stack: started detached with
 * their own log file, remembered by PID file, stopped only if the PID file
 * still names a live process that we started (checked by its command line).
 */
import { spawn } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { sleep } from '../lib/retry.js'

export interface ServiceProcess {
  /** Service name, used in messages. */
  name: string
  pidFile: string
  logFile: string
  /** A string that the process's command line contains, to tell it from a recycled PID. */
  marker: string
}

/** True when `pid` is alive. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')
  } catch {
    return ''
  }
}

/** PID of the service if its PID file names a live process that is ours. */
export function runningPid(svc: ServiceProcess): number | undefined {
  if (!existsSync(svc.pidFile)) return undefined
  const pid = Number(readFileSync(svc.pidFile, 'utf8').trim())
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined
  // /proc is Linux-only; elsewhere trust the PID file.
  if (existsSync('/proc/self/cmdline') && !commandLine(pid).includes(svc.marker)) return undefined
  return pid
}

/** Starts `command` detached, output appended to the service's log, and writes the PID file. */
export function startDetached(svc: ServiceProcess, command: string, args: string[], env: NodeJS.ProcessEnv): number {
  mkdirSync(dirname(svc.logFile), { recursive: true })
  mkdirSync(dirname(svc.pidFile), { recursive: true })
  const fd = openSync(svc.logFile, 'a')
  try {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', fd, fd], env })
    if (child.pid === undefined) throw new Error(`could not start ${svc.name}: ${command}`)
    child.unref()
    writeFileSync(svc.pidFile, `${child.pid}\n`)
    return child.pid
  } finally {
    closeSync(fd)
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; removes the PID file. Returns whether anything was stopped. */
export async function stopService(svc: ServiceProcess, graceMs = 20_000): Promise<boolean> {
  const pid = runningPid(svc)
  if (pid === undefined) {
    rmSync(svc.pidFile, { force: true })
    return false
  }
  process.kill(pid, 'SIGTERM')
  const deadline = Date.now() + graceMs
  while (isAlive(pid) && Date.now() < deadline) await sleep(100)
  if (isAlive(pid)) {
    process.kill(pid, 'SIGKILL')
    while (isAlive(pid)) await sleep(50)
  }
  rmSync(svc.pidFile, { force: true })
  return true
}

/** The last `lines` lines of a log file, for error messages. */
export function tailLog(file: string, lines = 30): string {
  if (!existsSync(file)) return '(no log file)'
  const text = readFileSync(file, 'utf8')
  return text
    .split('\n')
    .slice(-lines - 1)
    .join('\n')
}
