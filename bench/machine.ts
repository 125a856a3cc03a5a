/**
 * The machine a report was measured on, and how busy it was: the numbers
 * only mean something next to the cores, memory and versions they came
 * from, and next to the load other work put on the machine meanwhile.
 */
import { cpus, loadavg, release, totalmem } from 'node:os'
import type { Config } from '../lib/config.js'
import { stackVersions } from '../stack/paths.js'
import { postgresVersion } from './postgresCeiling.js'

/** The machine and the versions of what ran on it. */
export interface MachineInfo {
  cores: number
  cpuModel: string
  memoryGiB: number
  kernel: string
  node: string
  kafka: string
  postgres: string
}

/** Cores, memory, kernel, and the Node, Kafka (from stack/pom.xml) and PostgreSQL (asked of the server) versions. */
export async function describeMachine(config: Config): Promise<MachineInfo> {
  const list = cpus()
  return {
    cores: list.length,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    kernel: release(),
    node: process.version,
    kafka: stackVersions().kafka,
    postgres: await postgresVersion(config),
  }
}

/** The 1-minute load average: above the core count, other work was competing for the CPUs. */
export function loadAverage(): number {
  return Math.round((loadavg()[0] ?? 0) * 100) / 100
}
