import { describe, expect, it } from 'vitest'
import { loadConfig } from '../lib/config.js'
import { localKafka, nodeAddresses } from './kafka.js'
import { stackPaths } from './paths.js'

describe('localKafka', () => {
  it('is the single broker at stack.kafkaPort by default, as before', () => {
    const config = loadConfig()
    const paths = stackPaths(config)
    const setup = localKafka(config, paths)
    expect(nodeAddresses(setup)).toEqual(['127.0.0.1:9092'])
    expect(setup.nodes[0]).toMatchObject({ nodeId: 1, controllerPort: 9093, dataDir: paths.kafkaData })
    expect(setup.heapMb).toBe(1024)
  })

  it('is three nodes on their own ports, data, logs and PID files with --brokers 3', () => {
    const config = loadConfig({ overrides: { stack: { brokers: 3 } } })
    const setup = localKafka(config, stackPaths(config))
    expect(nodeAddresses(setup)).toEqual(config.kafka.brokers)
    expect(setup.nodes.map((n) => [n.nodeId, n.port, n.controllerPort])).toEqual([
      [1, 19092, 19192],
      [2, 19093, 19193],
      [3, 19094, 19194],
    ])
    for (const key of ['dataDir', 'configFile', 'logFile', 'pidFile'] as const)
      expect(new Set(setup.nodes.map((n) => n[key])).size).toBe(3)
    expect(setup.heapMb).toBe(512)
  })
})
