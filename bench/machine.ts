/**
 * The machine a report was measured on, and how busy it was: the numbers
 * only mean something next to the cores, memory and versions they came
 * from, and next to the load other work put on the machine meanwhile.
 */
import { cpus, loadavg, release, totalmem } from 'node:os'
import type { Config } from '../lib/config.js'
import { stackVersions } from '../stack/paths.js'
import { postgresServer } from './postgresCeiling.js'

/** The machine and the versions of what ran on it. */
export interface MachineInfo {
  cores: number
  cpuModel: string
  memoryGiB: number
  kernel: string
  node: string
  kafka: string
  postgres: string
  /**
   * The PostgreSQL server settings the secondary's cost depends on (POSTGRES_SETTINGS), as the server shows them:
   * its buffers, WAL and checkpoints, and whether autovacuum runs. Missing in reports made before they were recorded.
   */
  postgresSettings?: Record<string, string>
}

/**
 * Cores, memory, kernel, the Node, Kafka (from stack/pom.xml) and PostgreSQL (asked of the server) versions, and the
 * server's settings that matter to the secondary.
 */
export async function describeMachine(config: Config): Promise<MachineInfo> {
  const list = cpus()
  const server = await postgresServer(config)
  return {
    cores: list.length,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    kernel: release(),
    node: process.version,
    kafka: stackVersions().kafka,
    postgres: server.version,
    postgresSettings: server.settings,
  }
}

/** The machine as a report's opening names it. */
export type HeadMachine = Pick<MachineInfo, 'cores' | 'node' | 'postgres' | 'kafka' | 'postgresSettings'>

/** The part of `machine` a report's opening names. */
export function headMachine(machine: MachineInfo): HeadMachine {
  const { cores, node, postgres, kafka, postgresSettings } = machine
  return { cores, node, postgres, kafka, postgresSettings }
}

/** The 1-minute load average: above the core count, other work was competing for the CPUs. */
export function loadAverage(): number {
  return Math.round((loadavg()[0] ?? 0) * 100) / 100
}
