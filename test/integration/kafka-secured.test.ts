/**
 * xrc against a secured Kafka: one private single-node broker for the file
 * whose only client listener is SASL_SSL (a CA made now by openssl,
 * SCRAM-SHA-512 users made when its storage was formatted) and whose
 * StandardAuthorizer enforces ACLs.
 *
 * - TLS and SCRAM: the primary, the mover and the applier, child processes
 *   of the built CLI, mirror writes through it as a user allowed all of the
 *   session; a wrong password and an untrusted CA each stop a service at
 *   start-up with an error naming the cause, without retrying; the password
 *   reaches no log and no command output; PLAIN works over TLS.
 * - Least privilege: each stage logs in as its own user, granted only the
 *   ACLs lib/kafka/stageAcls.ts lists for it, and the mirror works; a stage
 *   missing one of them stops at start-up with XRC_KAFKA_NOT_AUTHORIZED
 *   naming the permission.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { saslSettings } from '../../lib/config.js'
import { connectAdmin, createKafkaClient, stageAcls, type Stage } from '../../lib/kafka/index.js'
import { silentLogger } from '../../lib/logger.js'
import { waitFor } from '../../lib/retry.js'
import { sessionTopics } from '../../schemas/topicNames.js'
import { lastJsonLine, runCli } from '../kit/cli.js'
import { startSecureKafka, type SecureKafka } from '../kit/secureKafka.js'
import { serviceChild, startPipelineServices, writeConfigFile, type ServiceChild } from '../kit/services.js'
import { createTestSession, type TestSession } from '../kit/session.js'

const BS = 4096
let kafka: SecureKafka

beforeAll(async () => {
  kafka = await startSecureKafka({
    users: ['xrc', 'primary', 'mover', 'applier', 'no-write', 'no-txn', 'no-read'],
    authorizer: true,
  })
  // 'xrc' may do anything with xrc's topics, groups and transactional ids: the TLS tests are not about ACLs
  await kafka.grant('xrc', [
    { resourceType: 'TOPIC', name: 'xrc.', pattern: 'PREFIXED', operations: ['ALL'] },
    { resourceType: 'GROUP', name: 'xrc.', pattern: 'PREFIXED', operations: ['ALL'] },
    { resourceType: 'TRANSACTIONAL_ID', name: 'xrc.', pattern: 'PREFIXED', operations: ['ALL'] },
  ])
}, 240_000)

afterAll(async () => {
  await kafka?.remove()
})

/** Every log line a service of this file wrote, and what the commands printed. */
async function everyLog(children: readonly ServiceChild[]): Promise<string> {
  return (await Promise.all(children.map((s) => readFile(s.logFile, 'utf8').catch(() => '')))).join('\n')
}

/**
 * Runs `service` of a session logging in as `user` and expects it to stop with exit code 1 and
 * XRC_KAFKA_NOT_AUTHORIZED in its log; returns the log. (A primary may say it is ready before its sender reaches
 * Kafka: its start is not what is checked.)
 */
async function refusedStage(
  service: 'primary' | 'mover' | 'applier',
  user: string,
  dir: string,
  settings: Record<string, unknown>,
): Promise<string> {
  const child = serviceChild({
    service,
    configFile: writeConfigFile(dir, settings),
    dir,
    name: user,
    ...(service === 'primary' ? {} : { args: ['--metrics-port', '0'] }),
  })
  await child.start().catch(() => undefined)
  expect(await child.waitExit()).toBe(1)
  const log = await readFile(child.logFile, 'utf8')
  expect(log).toMatch(/XRC_KAFKA_NOT_AUTHORIZED/)
  return log
}

describe('a secured Kafka (TLS and SCRAM-SHA-512)', () => {
  let session: TestSession
  let services: ServiceChild[] = []
  let configFile: string
  let api: string

  beforeAll(async () => {
    session = createTestSession({
      controllers: 2,
      volumesPerController: 1,
      blocks: 64,
      extra: { kafka: kafka.settingsFor('xrc') },
    })
    ;({ configFile, services, api } = await startPipelineServices(session.dataDir, session.settings))
  }, 120_000)

  afterAll(async () => {
    for (const s of services) await s.kill('SIGKILL')
    await session?.cleanup()
  })

  /** Starts `service` from `file` with `env`, expecting it to exit before (or soon after) it is ready. */
  async function startRefused(
    service: 'primary' | 'mover',
    file: string,
    name: string,
    env: Record<string, string>,
  ): Promise<{ code: number | null; log: string }> {
    const args = service === 'mover' ? ['--metrics-port', '0'] : []
    const child = serviceChild({ service, configFile: file, dir: session.dataDir, name, args })
    // a primary says it is ready before its sender has reached Kafka: it then stops on the refusal
    await child.start({ env }).catch(() => undefined)
    const code = await child.waitExit()
    return { code, log: await readFile(child.logFile, 'utf8') }
  }

  it('carries the mirror: writes reach the secondary through the SASL_SSL listener', async () => {
    const data = randomBytes(3 * BS)
    const xrc = (...args: string[]) => runCli(['--config', configFile, ...args], { timeoutMs: 90_000 })
    const write = await runCli(['--config', configFile, 'write', 'c0v0', '5', '--primary', api, '--json'], {
      input: data,
    })
    expect(write.code, write.stderr).toBe(0)
    const ack = lastJsonLine<{ acks: { time: number }[] }>(write).acks[0]
    await waitFor(
      'the write applied',
      async () => {
        const r = await xrc('status', '--json', '--primary', api)
        expect(r.code, r.stderr).toBe(0)
        const applied = lastJsonLine<{ appliedGroup?: { time: number } }>(r).appliedGroup?.time ?? 0
        return applied >= (ack?.time ?? Infinity) ? true : undefined
      },
      // each `xrc status` is a process that logs in over TLS: seconds apiece on a busy machine
      { timeoutMs: 120_000, intervalMs: 250 },
    )
    const out = join(session.dataDir, 'secondary-c0v0.img')
    const exported = await xrc('volume', 'export', 'c0v0', out, '--json')
    expect(exported.code, exported.stderr).toBe(0)
    const [secondary, primary] = await Promise.all([readFile(out), session.primaryImage('c0v0')])
    expect(secondary.subarray(5 * BS, 8 * BS).equals(data)).toBe(true)
    expect(secondary.equals(primary)).toBe(true)
    // the session's topics are on the secured broker (the shared one never saw them)
    const topics = await kafka.withAdmin((a) => a.listTopics())
    const names = sessionTopics(session.config.session.name)
    expect(topics).toEqual(expect.arrayContaining([names.updates, names.journal]))
    // nothing printed or logged holds the password
    const password = kafka.users.xrc?.password ?? ''
    expect(password.length).toBeGreaterThan(8)
    const status = await xrc('status', '--json', '--primary', api)
    expect(status.stdout + status.stderr + exported.stdout + exported.stderr).not.toContain(password)
    expect(await everyLog(services)).not.toContain(password)
  }, 240_000)

  /** Logins the secured broker has refused so far, as its log counts them (stack/log4j2.properties). */
  const refusedLogins = async (): Promise<number> =>
    ((await readFile(kafka.logFile, 'utf8')).match(/Failed authentication with/g) ?? []).length

  it('stops a mover with a wrong password at start-up, naming authentication and the user, without retrying', async () => {
    const wrong = 'not-the-password-4711'
    const before = await refusedLogins()
    const r = await startRefused('mover', configFile, 'mover-wrong-password', { XRC_KAFKA_SASL_PASSWORD: wrong })
    expect(r.code).toBe(1)
    expect(r.log).toMatch(/XRC_KAFKA_AUTH_FAILED/)
    expect(r.log).toMatch(/refused authentication: SASL SCRAM-SHA-512 as user \\?"xrc\\?" failed/)
    expect(r.log).not.toContain(wrong)
    // a refused login is not an outage ridden out: one attempt, not retried
    expect(r.log.match(/Failed to connect to seed broker|Kafka unreachable; retrying/g) ?? []).toHaveLength(0)
    // one login, refused once: counted in the broker's log, whichever library tried (not timed: the machine may be busy)
    expect((await refusedLogins()) - before).toBe(1)
  })

  it('stops a primary with a wrong password: its sender does not retry a refused login', async () => {
    const before = await refusedLogins()
    const r = await startRefused('primary', configFile, 'primary-wrong-password', {
      XRC_KAFKA_SASL_PASSWORD: 'wrong-again-0815',
      XRC_DATA_DIR: join(session.dataDir, 'other-primary'),
    })
    expect(r.code).toBe(1)
    expect(r.log).toMatch(/XRC_KAFKA_AUTH_FAILED/)
    expect(r.log).not.toContain('wrong-again-0815')
    expect(r.log.match(/Kafka unreachable; retrying/g) ?? []).toHaveLength(0)
    // the sender's admin and the applied state's reader log in at start, each refused once and never again (a
    // library's own retries of a refused login showed as six)
    const refused = (await refusedLogins()) - before
    expect(refused).toBeGreaterThanOrEqual(1)
    expect(refused).toBeLessThanOrEqual(2)
  })

  it('stops a mover that does not trust the broker’s CA, with a TLS error naming the CA setting', async () => {
    const untrusted = writeConfigFile(mkdtempSync(join(session.dataDir, 'untrusted-')), {
      ...session.settings,
      kafka: kafka.settingsFor('xrc', { caFile: kafka.tls.otherCaFile }),
    })
    const r = await startRefused('mover', untrusted, 'mover-untrusted-ca', {})
    expect(r.code).toBe(1)
    expect(r.log).toMatch(/XRC_KAFKA_TLS_FAILED/)
    expect(r.log).toMatch(
      /TLS with Kafka broker 127\.0\.0\.1:\d+ failed: .*\((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)\)/,
    )
    expect(r.log).toMatch(/kafka\.tls\.caFile/)
    // one handshake finds it: kafkajs, which would retry it for seconds as a connection error, never tries
    expect(r.log.match(/Failed to connect to seed broker/g) ?? []).toHaveLength(0)
    expect(r.log.match(/Connection error: self[- ]signed/g) ?? []).toHaveLength(0)
  })

  it('takes PLAIN over TLS', async () => {
    const password = kafka.users.xrc?.password ?? ''
    const connection = {
      brokers: kafka.brokers,
      tls: { caFile: kafka.tls.caFile, checkServerName: true },
      sasl: saslSettings('PLAIN', 'xrc', password),
    }
    const client = createKafkaClient({ connection, clientId: 'xrc-plain-test', logger: silentLogger })
    const admin = await connectAdmin(client)
    try {
      expect(await admin.listTopics()).toEqual(
        expect.arrayContaining([sessionTopics(session.config.session.name).updates]),
      )
    } finally {
      await admin.disconnect()
    }
    const wrong = { ...connection, sasl: saslSettings('PLAIN', 'xrc', 'wrong-password-1') }
    await expect(
      connectAdmin(createKafkaClient({ connection: wrong, clientId: 'xrc-plain-test', logger: silentLogger })),
    ).rejects.toMatchObject({
      code: 'XRC_KAFKA_AUTH_FAILED',
      message: expect.stringMatching(/SASL PLAIN as user "xrc" failed/),
    })
  })
})

describe('Kafka ACLs, a user per stage', () => {
  let session: TestSession
  let services: ServiceChild[] = []
  let configFile: string
  let api: string

  /** The environment that makes a service log in as `user`. */
  const loginAs = (user: string): Record<string, string> => ({
    XRC_KAFKA_SASL_USERNAME: user,
    XRC_KAFKA_SASL_PASSWORD: kafka.users[user]?.password ?? '',
  })

  beforeAll(async () => {
    session = createTestSession({
      controllers: 2,
      volumesPerController: 1,
      blocks: 64,
      // the file names no user of its own: each service gets its own from the environment
      extra: { kafka: kafka.settingsFor('primary') },
    })
    const name = session.config.session.name
    for (const stage of ['primary', 'mover', 'applier'] as Stage[]) await kafka.grant(stage, stageAcls(name, stage))
    ;({ configFile, services, api } = await startPipelineServices(session.dataDir, session.settings, {
      primary: loginAs('primary'),
      mover: loginAs('mover'),
      applier: loginAs('applier'),
    }))
  }, 120_000)

  afterAll(async () => {
    for (const s of services) await s.kill('SIGKILL')
    await session?.cleanup()
    for (const o of others) await o.cleanup()
  })

  /** A session of its own logging in as `user`: its subjects, PostgreSQL schema and files go after the file. */
  const others: TestSession[] = []
  function otherSession(user: string): { settings: Record<string, unknown>; name: string; dir: string } {
    const o = createTestSession({
      controllers: 1,
      volumesPerController: 1,
      blocks: 8,
      extra: { kafka: kafka.settingsFor(user) },
    })
    others.push(o)
    return { settings: o.settings, name: o.config.session.name, dir: o.dataDir }
  }

  it('mirror writes with each stage granted only its own ACLs', async () => {
    const data = randomBytes(2 * BS)
    const write = await runCli(['--config', configFile, 'write', 'c1v0', '7', '--primary', api, '--json'], {
      input: data,
    })
    expect(write.code, write.stderr).toBe(0)
    expect(lastJsonLine<{ blocks: number }>(write).blocks).toBe(2)
    const out = join(session.dataDir, 'secondary-c1v0.img')
    // the secondary is read from PostgreSQL: no Kafka user needed
    const secondary = await waitFor(
      'the write applied on the secondary',
      async () => {
        const r = await runCli(['--config', configFile, 'volume', 'export', 'c1v0', out, '--json'])
        if (r.code !== 0) return undefined
        const image = await readFile(out)
        return image.subarray(7 * BS, 9 * BS).equals(data) ? image : undefined
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    )
    expect(secondary.equals(await session.primaryImage('c1v0'))).toBe(true)
    expect(services.every((s) => !s.exited())).toBe(true)
  })

  it('stops a primary whose user may not write the updates topic, naming that permission', async () => {
    const { settings: other, name, dir } = otherSession('no-write')
    // everything a primary needs but Write on the updates topic
    const grants = stageAcls(name, 'primary').map((g) =>
      g.name.endsWith('.updates') ? { ...g, operations: g.operations.filter((op) => op !== 'WRITE') } : g,
    )
    await kafka.grant('no-write', grants)
    const log = await refusedStage('primary', 'no-write', dir, other)
    expect(log).toMatch(
      new RegExp(
        `Kafka refused User:no-write \\w+_AUTHORIZATION_FAILED: it needs Write on topic xrc\\.${name}\\.updates`,
      ),
    )
    expect(log.match(/Kafka unreachable; retrying/g) ?? []).toHaveLength(0)
  })
  it('stops a mover whose user may not use its transactional id, naming that permission', async () => {
    const { settings: other, name, dir } = otherSession('no-txn')
    // the primary's part done by the admin: the updates topic the mover waits for
    await kafka.withAdmin((a) => a.createTopics({ topics: [{ topic: `xrc.${name}.updates`, numPartitions: 1 }] }))
    await kafka.grant(
      'no-txn',
      stageAcls(name, 'mover').filter((g) => g.resourceType !== 'TRANSACTIONAL_ID'),
    )
    const log = await refusedStage('mover', 'no-txn', dir, other)
    expect(log).toMatch(
      new RegExp(
        `Kafka refused User:no-txn TRANSACTIONAL_ID_AUTHORIZATION_FAILED: it needs Write on transactional id xrc\\.${name}\\.mover`,
      ),
    )
  })
  it('stops an applier whose user may not read the journal, naming what it needs', async () => {
    const { settings: other, name, dir } = otherSession('no-read')
    await kafka.withAdmin((a) => a.createTopics({ topics: [{ topic: `xrc.${name}.updates`, numPartitions: 1 }] }))
    // everything an applier needs but Read on the journal
    const grants = stageAcls(name, 'applier').map((g) =>
      g.name.endsWith('.journal') ? { ...g, operations: g.operations.filter((op) => op !== 'READ') } : g,
    )
    await kafka.grant('no-read', grants)
    const log = await refusedStage('applier', 'no-read', dir, other)
    expect(log).toMatch(
      new RegExp(
        `Kafka refused User:no-read TOPIC_AUTHORIZATION_FAILED: it needs Read on topic xrc\\.${name}\\.journal`,
      ),
    )
  })
})
