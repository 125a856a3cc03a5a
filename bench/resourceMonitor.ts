/**
 * CPU and memory of the processes a run involves, phase by phase: CPU time
 * is the difference of /proc utime+stime between a phase's start and end;
 * peak RSS is the highest VmRSS sampled during the phase (VmHWM is the
 * peak over the process's whole life, so it cannot tell phases of one
 * process apart; it is reported too, and for a process started for one
 * phase it is that phase's exact peak).
 */
import { readProcSample, type ProcSample } from './procStats.js'

/** What one process used during a phase. */
export interface ProcessUsage {
  pid: number
  /**
   * CPU time during the phase, µs, and the part of it spent in the kernel (system calls: fdatasync, pwrite, sockets).
   */
  cpuUs: number
  sysUs: number
  /** Highest VmRSS sampled during the phase, KiB. */
  peakRssKb: number
  /** VmHWM at the phase's end (peak RSS since the process started), KiB. */
  hwmKb: number
}

/** One phase being measured. */
export interface PhaseMeter {
  /** Usage per tracked name, for processes alive at the end (or last seen). */
  end(): Promise<Record<string, ProcessUsage>>
}

/** The processes followed, by name. */
export interface ResourceMonitor {
  /**
   * Follows a process under a name (a stage, the broker, a PostgreSQL backend); replaces an earlier one of that name.
   * With `withChildren` its CPU is that of it and its children, live and ended (procStats.ts readProcSample).
   */
  track(name: string, pid: number, options?: { withChildren?: boolean }): Promise<void>
  untrack(name: string): void
  /** Starts measuring a phase: CPU from now, RSS peaks from now. */
  begin(): Promise<PhaseMeter>
  close(): void
}

interface Open {
  start: Map<string, ProcSample>
  peak: Map<string, number>
  last: Map<string, ProcSample>
}

/** Samples every tracked process every `intervalMs` (100 ms) while a phase is open. */
export function createResourceMonitor(options: { intervalMs?: number } = {}): ResourceMonitor {
  const tracked = new Map<string, { pid: number; withChildren: boolean }>()
  const phases = new Set<Open>()
  let sampling = false

  async function sampleAll(): Promise<Map<string, ProcSample>> {
    const out = new Map<string, ProcSample>()
    await Promise.all(
      [...tracked].map(async ([name, { pid, withChildren }]) => {
        const s = await readProcSample(pid, { withChildren })
        if (s !== undefined) out.set(name, s)
      }),
    )
    return out
  }

  function record(samples: Map<string, ProcSample>): void {
    for (const phase of phases) {
      for (const [name, s] of samples) {
        phase.peak.set(name, Math.max(phase.peak.get(name) ?? 0, s.rssKb))
        phase.last.set(name, s)
        // a process tracked after the phase began counts from its first sample
        if (!phase.start.has(name)) phase.start.set(name, s)
      }
    }
  }

  const timer = setInterval(() => {
    if (sampling || phases.size === 0) return
    sampling = true
    sampleAll()
      .then(record)
      .catch(() => undefined) // a process gone between listing and reading: the next sample skips it
      .finally(() => (sampling = false))
  }, options.intervalMs ?? 100)
  timer.unref()

  return {
    async track(name, pid, options = {}) {
      const withChildren = options.withChildren ?? false
      tracked.set(name, { pid, withChildren })
      const s = await readProcSample(pid, { withChildren })
      if (s !== undefined) record(new Map([[name, s]]))
    },
    untrack: (name) => void tracked.delete(name),
    async begin() {
      const start = await sampleAll()
      const phase: Open = { start, peak: new Map([...start].map(([n, s]) => [n, s.rssKb])), last: new Map(start) }
      phases.add(phase)
      return {
        async end() {
          record(await sampleAll())
          phases.delete(phase)
          const out: Record<string, ProcessUsage> = {}
          for (const [name, last] of phase.last) {
            const first = phase.start.get(name) as ProcSample
            // a pid reused under the same name (a restarted stage) starts over
            const same = first.pid === last.pid
            const cpuUs = same ? last.cpuUs - first.cpuUs : last.cpuUs
            const sysUs = same ? last.sysUs - first.sysUs : last.sysUs
            out[name] = {
              pid: last.pid,
              cpuUs,
              sysUs,
              peakRssKb: phase.peak.get(name) ?? last.rssKb,
              hwmKb: last.hwmKb,
            }
          }
          return out
        },
      }
    },
    close: () => clearInterval(timer),
  }
}
