import { describe, expect, it } from 'vitest'
import { sustainedRate, usageByStage } from './benchRun.js'

describe('sustainedRate', () => {
  it('counts the writes committed inside the window, ends included, per second of the window', () => {
    const commit = Float64Array.from([999, 1000, 1500, Number.NaN, 2000, 3000, 3001])
    expect(sustainedRate(commit, 1000, 3000)).toBe(2) // 4 writes in 2 s
    expect(sustainedRate(new Float64Array(0), 0, 1000)).toBe(0)
  })
})

describe('usageByStage', () => {
  it('sums the applier processes, and takes the PostgreSQL server whole, per block', () => {
    const u = (cpuUs: number) => ({ pid: 1, cpuUs, sysUs: cpuUs / 2, peakRssKb: 1024, hwmKb: 2048 })
    const out = usageByStage({ mover: u(100), applier: u(100), 'applier-late': u(100), 'postgres server': u(400) }, 10)
    expect(out).toEqual({
      mover: { cpuUsPerBlock: 10, sysUsPerBlock: 5, peakRssMiB: 1, hwmMiB: 2 },
      applier: { cpuUsPerBlock: 20, sysUsPerBlock: 10, peakRssMiB: 2, hwmMiB: 4 },
      'postgres (server)': { cpuUsPerBlock: 40, sysUsPerBlock: 20, peakRssMiB: 1, hwmMiB: 2 },
    })
  })
})
