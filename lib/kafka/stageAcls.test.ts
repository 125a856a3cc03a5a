import { describe, expect, it } from 'vitest'
import { kafkaAclsCommands, stageAcls, stagePermissions } from './stageAcls.js'

describe('stage ACLs', () => {
  it('give the primary Write on the updates topic only, and the mover its transactional id', () => {
    const primary = stageAcls('demo', 'primary')
    const writes = (grants: ReturnType<typeof stageAcls>) =>
      grants.filter((g) => g.operations.includes('WRITE')).map((g) => `${g.resourceType} ${g.name}`)
    expect(writes(primary)).toEqual(['TOPIC xrc.demo.updates'])
    expect(writes(stageAcls('demo', 'mover'))).toEqual([
      'TOPIC xrc.demo.journal',
      'TOPIC xrc.demo.dlq',
      'TRANSACTIONAL_ID xrc.demo.mover',
    ])
    expect(writes(stageAcls('demo', 'applier'))).toEqual(['TOPIC xrc.demo.applied'])
    // no stage may read what it has no business reading: the primary never reads the journal
    expect(primary.some((g) => g.name === 'xrc.demo.journal')).toBe(false)
    // every group a stage joins is under its own prefix
    for (const stage of ['primary', 'mover', 'applier'] as const)
      expect(stageAcls('demo', stage).filter((g) => g.resourceType === 'GROUP')).toEqual([
        { resourceType: 'GROUP', name: `xrc.demo.${stage}`, pattern: 'PREFIXED', operations: ['READ', 'DELETE'] },
      ])
  })

  it('print as kafka-acls.sh commands', () => {
    const lines = kafkaAclsCommands(stageAcls('demo', 'mover'), 'User:xrc-mover', 'admin.properties')
    expect(lines).toContain(
      'kafka-acls.sh --bootstrap-server "$KAFKA_BROKERS" --command-config admin.properties --add ' +
        '--allow-principal User:xrc-mover --operation Write --transactional-id xrc.demo.mover',
    )
    expect(lines.some((l) => l.endsWith('--group xrc.demo.mover --resource-pattern-type prefixed'))).toBe(true)
  })

  it('name in words what a stage needs, by the error Kafka answers without it', () => {
    expect(stagePermissions('demo', 'mover')).toEqual({
      TOPIC_AUTHORIZATION_FAILED:
        'Read on topic xrc.demo.updates, Read and Write on topic xrc.demo.journal, Write on topic xrc.demo.dlq, ' +
        'Read on topic xrc.demo.control',
      GROUP_AUTHORIZATION_FAILED: 'Read on group xrc.demo.mover* (prefixed)',
      TRANSACTIONAL_ID_AUTHORIZATION_FAILED: 'Write on transactional id xrc.demo.mover',
    })
  })
})
