/**
 * CPU time and memory of a process from Linux's /proc: utime + stime from
 * /proc/<pid>/stat (clock ticks), VmRSS and VmHWM (peak RSS) from
 * /proc/<pid>/status. Parsing is pure; reading is a thin shell around it.
 */
import { execFileSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'

/** The fields of a /proc/<pid>/stat line after comm (fields[0] is field 3, state). */
function statFields(text: string): string[] {
  // field 2 (comm) is in parentheses and may hold spaces or ')', so split after the last ')'
  const close = text.lastIndexOf(')')
  if (close < 0) throw new RangeError('not a /proc/<pid>/stat line: no ")"')
  return text
    .slice(close + 2)
    .trim()
    .split(/\s+/)
}

/** Two fields of a stat line as clock ticks; RangeError when either is missing. */
function ticksAt(fields: string[], user: number, system: number, what: string): { user: number; system: number } {
  const u = Number(fields[user])
  const s = Number(fields[system])
  if (!Number.isFinite(u) || !Number.isFinite(s)) throw new RangeError(`not a /proc/<pid>/stat line: ${what} missing`)
  return { user: u, system: s }
}

/** CPU ticks (user and system) from the text of /proc/<pid>/stat. */
export function parseStatCpuTicks(text: string): { user: number; system: number } {
  // after comm: field 3 (state) is fields[0], so utime (14) and stime (15) are fields[11] and fields[12]
  return ticksAt(statFields(text), 11, 12, 'utime/stime')
}

/**
 * CPU ticks (user and system) of the process's children that have ended and been waited for, from the text of
 * /proc/<pid>/stat: cutime (16) and cstime (17). A child's whole CPU lands here when it is reaped.
 */
export function parseStatChildCpuTicks(text: string): { user: number; system: number } {
  return ticksAt(statFields(text), 13, 14, 'cutime/cstime')
}

/** The parent's pid (field 4) from the text of /proc/<pid>/stat. */
export function parseStatParentPid(text: string): number {
  const ppid = Number(statFields(text)[1])
  if (!Number.isInteger(ppid) || ppid < 0) throw new RangeError('not a /proc/<pid>/stat line: ppid missing')
  return ppid
}

/** A process's parent pid; undefined when it has exited (or is not readable). */
export async function readParentPid(pid: number): Promise<number | undefined> {
  try {
    return parseStatParentPid(await readFile(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return undefined
  }
}

/** VmRSS and VmHWM in KiB from the text of /proc/<pid>/status. */
export function parseStatusMemory(text: string): { rssKb: number; hwmKb: number } {
  const get = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)
    if (!m) throw new RangeError(`no ${key} in /proc/<pid>/status`)
    return Number(m[1])
  }
  return { rssKb: get('VmRSS'), hwmKb: get('VmHWM') }
}

let ticksPerSecond: number | undefined

/** The kernel's clock ticks per second (getconf CLK_TCK; 100 on every common Linux). */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      ticksPerSecond = 100 // getconf missing: the value every common Linux build uses
    }
  }
  return ticksPerSecond
}

/** One reading of a process. */
export interface ProcSample {
  pid: number
  /** CPU time used so far, µs (user + system), and the system (kernel) part of it. */
  cpuUs: number
  sysUs: number
  rssKb: number
  hwmKb: number
}

/**
 * Reads a process's CPU and memory; undefined when it has exited (or is not readable). With `withChildren` its CPU
 * is that of the whole server it runs: its own, its live children's (/proc/<pid>/task/<pid>/children) and that of
 * its children that ended and were reaped (cutime + cstime). A server that forks a process per connection or task
 * (PostgreSQL) is counted whole that way, connections opened or closed meanwhile included; its memory stays its own.
 */
export async function readProcSample(
  pid: number,
  options: { withChildren?: boolean } = {},
): Promise<ProcSample | undefined> {
  try {
    const [stat, status] = await Promise.all([
      readFile(`/proc/${pid}/stat`, 'utf8'),
      readFile(`/proc/${pid}/status`, 'utf8'),
    ])
    const { rssKb, hwmKb } = parseStatusMemory(status)
    const ticks = parseStatCpuTicks(stat)
    if (options.withChildren) {
      const ended = parseStatChildCpuTicks(stat)
      const live = await liveChildrenTicks(pid)
      ticks.user += ended.user + live.user
      ticks.system += ended.system + live.system
    }
    const us = 1e6 / clockTicksPerSecond()
    return { pid, cpuUs: (ticks.user + ticks.system) * us, sysUs: ticks.system * us, rssKb, hwmKb }
  } catch (err) {
    // gone, not ours to read, or exiting (a zombie's status has no Vm* lines): no sample
    if (err instanceof RangeError) return undefined
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ESRCH' || code === 'EACCES') return undefined
    throw err
  }
}

/** The pids in the text of /proc/<pid>/task/<tid>/children (space separated). */
export function parseChildren(text: string): number[] {
  return text
    .split(/\s+/)
    .filter((t) => t !== '')
    .map((t) => {
      const pid = Number(t)
      if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`not a children list: ${JSON.stringify(t)}`)
      return pid
    })
}

/** CPU ticks of a process's live children (a child gone meanwhile counts nothing here: it is in cutime). */
async function liveChildrenTicks(pid: number): Promise<{ user: number; system: number }> {
  const sum = { user: 0, system: 0 }
  const children = parseChildren(await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8'))
  await Promise.all(
    children.map(async (child) => {
      try {
        const t = parseStatCpuTicks(await readFile(`/proc/${child}/stat`, 'utf8'))
        sum.user += t.user
        sum.system += t.system
      } catch {
        // ended between the listing and the read: reaped, it is in the parent's cutime
      }
    }),
  )
  return sum
}

/**
 * CPU time of this process's children that have ended and been reaped, µs (cutime + cstime of /proc/self/stat): the
 * difference over a span is the whole CPU of the children that ended in it, every thread included (a JVM's too).
 */
export async function readEndedChildrenCpuUs(): Promise<number> {
  // first: on the first call it runs getconf, a child whose CPU must not land between two readings
  const us = 1e6 / clockTicksPerSecond()
  const ticks = parseStatChildCpuTicks(await readFile('/proc/self/stat', 'utf8'))
  return (ticks.user + ticks.system) * us
}
