/**
 * Least privilege on a secured Kafka, as data: the ACLs each stage of a
 * session needs for its job and nothing else, by Kafka's names (resource
 * type, name, pattern, operations). The README's commands, the tests'
 * grants and the names in XRC_KAFKA_NOT_AUTHORIZED all come from here.
 *
 * - primary: writes the updates topic (creating it when missing), reads the
 *   applied topic (what the secondaries applied) through private groups
 *   xrc.S.primary.*.
 * - mover: reads the updates topic; writes the journal in transactions of
 *   its transactional id xrc.S.mover and reads it back at start; writes the
 *   dead-letter topic; reads the control topic; groups xrc.S.mover*.
 * - applier: reads the journal and the updates topic; writes the applied
 *   topic; groups xrc.S.applier*.
 *
 * Create is granted on a stage's own topics because each stage makes sure
 * of them at start (CreateTopics answers "exists" for one already there);
 * DescribeConfigs because each checks their settings (retention, message
 * size). Describe follows from Read and Write in Kafka.
 */
import type { AclAllow } from './client/index.js'
import { sessionTopics } from '../../schemas/topicNames.js'

export type Stage = 'primary' | 'mover' | 'applier'
export const STAGES: readonly Stage[] = ['primary', 'mover', 'applier']

/** One ACL: allow `operations` on a resource to the stage's principal, from any host. */
export interface AclGrant {
  resourceType: 'TOPIC' | 'GROUP' | 'TRANSACTIONAL_ID'
  name: string
  pattern: 'LITERAL' | 'PREFIXED'
  operations: readonly AclOperation[]
}

export type AclOperation = 'READ' | 'WRITE' | 'CREATE' | 'DESCRIBE' | 'DESCRIBE_CONFIGS' | 'DELETE' | 'ALL'

/** The ACLs `stage` of `session` needs. */
export function stageAcls(session: string, stage: Stage): AclGrant[] {
  const t = sessionTopics(session)
  const topic = (name: string, ...operations: AclOperation[]): AclGrant => ({
    resourceType: 'TOPIC',
    name,
    pattern: 'LITERAL',
    operations,
  })
  // private reader groups (a uuid each, deleted when the reader stops) under the stage's prefix
  const groups = (prefix: string): AclGrant => ({
    resourceType: 'GROUP',
    name: prefix,
    pattern: 'PREFIXED',
    operations: ['READ', 'DELETE'],
  })
  switch (stage) {
    case 'primary':
      return [
        topic(t.updates, 'WRITE', 'CREATE', 'DESCRIBE_CONFIGS'),
        topic(t.applied, 'READ', 'CREATE', 'DESCRIBE_CONFIGS'),
        groups(`xrc.${session}.primary`),
      ]
    case 'mover':
      return [
        topic(t.updates, 'READ', 'DESCRIBE_CONFIGS'),
        topic(t.journal, 'READ', 'WRITE', 'CREATE', 'DESCRIBE_CONFIGS'),
        topic(t.deadLetter, 'WRITE', 'CREATE', 'DESCRIBE_CONFIGS'),
        topic(t.control, 'READ', 'CREATE', 'DESCRIBE_CONFIGS'),
        groups(`xrc.${session}.mover`),
        { resourceType: 'TRANSACTIONAL_ID', name: `xrc.${session}.mover`, pattern: 'LITERAL', operations: ['WRITE'] },
      ]
    case 'applier':
      return [
        topic(t.journal, 'READ', 'CREATE', 'DESCRIBE_CONFIGS'),
        topic(t.updates, 'READ', 'DESCRIBE_CONFIGS'),
        topic(t.applied, 'WRITE', 'CREATE', 'DESCRIBE_CONFIGS'),
        groups(`xrc.${session}.applier`),
      ]
  }
}

const CLI_RESOURCE = { TOPIC: '--topic', GROUP: '--group', TRANSACTIONAL_ID: '--transactional-id' } as const
const CLI_OPERATION: Record<AclOperation, string> = {
  READ: 'Read',
  WRITE: 'Write',
  CREATE: 'Create',
  DESCRIBE: 'Describe',
  DESCRIBE_CONFIGS: 'DescribeConfigs',
  DELETE: 'Delete',
  ALL: 'All',
}

/** The grants as kafka-acls.sh commands for `principal` (User:NAME), one line each. */
export function kafkaAclsCommands(grants: readonly AclGrant[], principal: string, commandConfig: string): string[] {
  return grants.map((g) =>
    [
      'kafka-acls.sh --bootstrap-server "$KAFKA_BROKERS" --command-config',
      commandConfig,
      '--add --allow-principal',
      principal,
      ...g.operations.map((op) => `--operation ${CLI_OPERATION[op]}`),
      CLI_RESOURCE[g.resourceType],
      g.name,
      ...(g.pattern === 'PREFIXED' ? ['--resource-pattern-type prefixed'] : []),
    ].join(' '),
  )
}

/** A grant as kafka-acls names it in one phrase: "Write on topic xrc.demo.updates". */
export function permissionPhrase(operation: AclOperation, grant: Pick<AclGrant, 'resourceType' | 'name'>): string {
  const kind = { TOPIC: 'topic', GROUP: 'group', TRANSACTIONAL_ID: 'transactional id' }[grant.resourceType]
  return `${CLI_OPERATION[operation]} on ${kind} ${grant.name}`
}

/**
 * What `stage` needs, in words, by the authorization error Kafka answers
 * when a grant is missing: for kafkaAccessError's message.
 */
export function stagePermissions(session: string, stage: Stage): Record<string, string> {
  const grants = stageAcls(session, stage)
  const phrases = (type: AclGrant['resourceType']): string =>
    grants
      .filter((g) => g.resourceType === type)
      .map((g) => {
        const ops = g.operations.filter((op) => op === 'READ' || op === 'WRITE').map((op) => CLI_OPERATION[op])
        const what = permissionPhrase(g.operations[0] ?? 'READ', g).replace(/^\w+ on /, '')
        return `${ops.join(' and ')} on ${what}${g.pattern === 'PREFIXED' ? '* (prefixed)' : ''}`
      })
      .join(', ')
  return {
    TOPIC_AUTHORIZATION_FAILED: phrases('TOPIC'),
    GROUP_AUTHORIZATION_FAILED: phrases('GROUP'),
    ...(stage === 'mover' ? { TRANSACTIONAL_ID_AUTHORIZATION_FAILED: phrases('TRANSACTIONAL_ID') } : {}),
  }
}

/** The grants as ACLs allowing them to `principal` (User:NAME) from any host. */
export function aclEntries(grants: readonly AclGrant[], principal: string): AclAllow[] {
  return grants.flatMap((g) =>
    g.operations.map((operation) => ({
      resourceType: g.resourceType,
      resourceName: g.name,
      pattern: g.pattern,
      principal,
      operation,
    })),
  )
}
