import { describe, expect, it } from 'vitest'
import { execFileSync, spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import {
  clockTicksPerSecond,
  parseChildren,
  parseStatChildCpuTicks,
  parseStatCpuTicks,
  parseStatParentPid,
  parseStatusMemory,
  readProcSample,
} from './procStats.js'
import { differences, latencySummary, median, ratio, round } from './stats.js'

describe('latencySummary', () => {
  it('gives percentiles to 3 significant digits, in ms', () => {
    const delays = Array.from({ length: 1000 }, (_, i) => i + 1) // 1..1000 ms
    const s = latencySummary(delays)
    expect(s.count).toBe(1000)
    expect(s.missing).toBe(0)
    expect(s.p50).toBeCloseTo(500, -1)
    expect(s.p99).toBeCloseTo(990, -1)
    expect(s.p999).toBeCloseTo(999, -1)
    expect(s.max).toBeCloseTo(1000, -1)
  })

  it('keeps sub-millisecond resolution and counts NaN as missing', () => {
    const s = latencySummary([0.25, 0.25, Number.NaN, -0.01])
    expect(s.count).toBe(3)
    expect(s.missing).toBe(1)
    expect(s.max).toBe(0.25)
  })

  it('is all NaN for no samples', () => {
    const s = latencySummary([])
    expect(s.count).toBe(0)
    expect(Number.isNaN(s.p99)).toBe(true)
  })
})

describe('median, ratio, differences, round', () => {
  it('takes the median of the finite values', () => {
    expect(median([3, 1, 2])).toBe(2)
    expect(median([4, 1, 3, 2])).toBe(2.5)
    expect(median([Number.NaN, 5])).toBe(5)
    expect(Number.isNaN(median([]))).toBe(true)
  })

  it('divides only finite numbers by a non-zero one', () => {
    expect(ratio(1, 4)).toBe(0.25)
    expect(Number.isNaN(ratio(1, 0))).toBe(true)
    expect(Number.isNaN(ratio(Number.NaN, 2))).toBe(true)
  })

  it('subtracts element-wise, from an array or a function', () => {
    expect([...differences(new Float64Array([5, 7]), new Float64Array([1, 2]))]).toEqual([4, 5])
    expect([...differences(new Float64Array([5, 7]), (i) => i)]).toEqual([5, 6])
  })

  it('rounds to digits', () => {
    expect(round(1.2345, 2)).toBe(1.23)
    expect(round(1234.5)).toBe(1235)
  })
})

/** Waits until a process has used some CPU (at least two clock ticks). */
async function waitForCpu(pid: number): Promise<void> {
  for (;;) {
    const t = parseStatCpuTicks(await readFile(`/proc/${pid}/stat`, 'utf8'))
    if (t.user + t.system >= 2) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

describe('/proc parsing', () => {
  it('reads utime and stime after a command name with spaces and parentheses', () => {
    const stat = '4242 (node (bench) x) S 1 4242 4242 0 -1 4194304 100 0 0 0 1500 250 0 0 20 0 11 0 123 456 789'
    expect(parseStatCpuTicks(stat)).toEqual({ user: 1500, system: 250 })
    expect(() => parseStatCpuTicks('garbage')).toThrow(RangeError)
  })

  it('reads cutime and cstime (the CPU of children that ended), the two fields after stime', () => {
    const stat = '4242 (node (bench) x) S 1 4242 4242 0 -1 4194304 100 0 0 0 1500 250 900 80 20 0 11 0 123 456 789'
    expect(parseStatChildCpuTicks(stat)).toEqual({ user: 900, system: 80 })
    expect(() => parseStatChildCpuTicks('7 (x) S 1 2 3')).toThrow(RangeError)
  })

  it('reads the parent pid, the field after the state', () => {
    const stat = '4242 (postgres: (x) y) S 917 4242 4242 0 -1 4194304 100 0 0 0 1500 250 900 80 20 0 11 0 123 456 789'
    expect(parseStatParentPid(stat)).toBe(917)
    expect(() => parseStatParentPid('7 (x) S')).toThrow(RangeError)
  })

  it('reads a children list', () => {
    expect(parseChildren('9889 9890 12403 ')).toEqual([9889, 9890, 12403])
    expect(parseChildren('')).toEqual([])
    expect(() => parseChildren('12 x')).toThrow(RangeError)
  })

  it('counts children, live and ended, in a sample only when asked', async () => {
    // a child that burns CPU and ends, and one that burns CPU and lives on while the samples are read
    execFileSync('sh', ['-c', 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done'])
    const live = spawn('sh', ['-c', 'i=0; while [ $i -lt 100000000 ]; do i=$((i+1)); done'])
    try {
      await waitForCpu(live.pid ?? 0)
      const own = await readProcSample(process.pid)
      const whole = await readProcSample(process.pid, { withChildren: true })
      const ended = parseStatChildCpuTicks(await readFile('/proc/self/stat', 'utf8'))
      const liveTicks = parseStatCpuTicks(await readFile(`/proc/${live.pid}/stat`, 'utf8'))
      const us = 1e6 / clockTicksPerSecond()
      expect(ended.user + ended.system).toBeGreaterThan(0)
      // this process keeps running between the reads: its own time only grows; the live child's too (read last)
      const children = (whole?.cpuUs ?? 0) - (own?.cpuUs ?? 0)
      expect(children).toBeGreaterThanOrEqual(
        (ended.user + ended.system) * us + 0.5 * (liveTicks.user + liveTicks.system) * us,
      )
    } finally {
      live.kill()
    }
  })

  it('reads VmRSS and VmHWM', () => {
    const status = 'Name:\tnode\nVmPeak:\t 999 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n'
    expect(parseStatusMemory(status)).toEqual({ rssKb: 102400, hwmKb: 204800 })
    expect(() => parseStatusMemory('Name:\tzombie\n')).toThrow(RangeError)
  })
})
