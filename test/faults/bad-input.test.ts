/**
 * Bad input on the updates topic, every kind the README's bad-input table
 * lists, against the real broker and registry with the mover in this process: each record goes
 * to the session's dead-letter topic with headers naming its source topic,
 * partition, offset, error code and message (xrc's own and Kafka Connect's
 * `__connect.errors.*`); it is counted by code in the
 * metrics and in status. Records that do not belong to a stream are set
 * aside and the session goes on; one that breaks a controller's stream
 * freezes that controller (T waits, the others' writes are kept, status and
 * health say halted and why) until the operator resumes it with
 * `xrc session resume` (run here as a user would, as a child process).
 * Nothing acknowledged is lost: the journal is the model of the good writes
 * minus exactly the seqs the operator discarded.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { KafkaAdmin, KafkaClient, RecordHeaders } from '../../lib/kafka/index.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { silentLogger } from '../../lib/logger.js'
import { waitFor } from '../../lib/retry.js'
import { createMover, type Mover, type MoverStatus } from '../../mover/index.js'
import { readDeadLetters, summarizeDeadLetters, type DeadLetterEntry } from '../../mover/index.js'
import type { RecordSet } from '../../schemas/recordSet.js'
import { CLI } from '../kit/services.js'
import { stackInfo, testKafka } from '../kit/servers.js'
import { BLOCK, expectJournalMatches, moverSession, readGroups, type MoverSession } from '../integration/moverKit.js'
import { recordSetHeaders } from '../../schemas/recordSet.js'

const run = promisify(execFile)
let kafka: KafkaClient
let admin: KafkaAdmin
const cleanups: (() => Promise<void>)[] = []

beforeAll(async () => {
  kafka = testKafka()
  admin = kafka.admin()
  await admin.connect()
})

afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
  await admin.disconnect()
})

async function start(
  overrides: Parameters<typeof moverSession>[2] = {},
): Promise<{ s: MoverSession; m: Mover; dir: string }> {
  const s = await moverSession(kafka, admin, { mover: { maxRecordSetBytes: 64 * 1024, ...overrides.mover } })
  const dir = mkdtempSync(join(tmpdir(), 'xrc-bad-input-'))
  const m = createMover({ config: s.config, logger: silentLogger, kafka })
  cleanups.push(async () => {
    await m.stop()
    await s.cleanup()
    rmSync(dir, { recursive: true, force: true })
  })
  await m.start()
  return { s, m, dir }
}

/** Sends one raw record to a partition; resolves with its offset. */
async function sendRaw(s: MoverSession, partition: number, value: Buffer, headers?: RecordHeaders): Promise<number> {
  const [meta] = await s.producer.send({
    topic: s.topics.updates,
    acks: -1,
    messages: [{ partition, value, ...(headers ? { headers } : {}) }],
  })
  return Number(meta?.baseOffset)
}

/** Sends a record set (with the producer's headers); resolves with its offset. */
async function sendSet(s: MoverSession, rs: RecordSet): Promise<number> {
  return sendRaw(s, rs.controller, s.codec.encode(rs), recordSetHeaders(rs))
}

/** Heartbeats of every controller; resolves once a group reached their time. */
async function settle(s: MoverSession, m: Mover): Promise<number> {
  const hbs = s.controllers.heartbeats()
  await s.send(hbs)
  const t = Math.min(...hbs.map((h) => h.maxTime))
  await waitFor(
    'the journal to reach the heartbeats',
    () =>
      (m.status().groupTime ?? 0) >= t
        ? true
        : m.status().halt
          ? Promise.reject(new Error(m.status().halt?.message))
          : undefined,
    { timeoutMs: 30_000, intervalMs: 20 },
  )
  return t
}

async function deadLetters(s: MoverSession): Promise<DeadLetterEntry[]> {
  return readDeadLetters({ kafka, topic: s.topics.deadLetter, logger: silentLogger, groupPrefix: `${s.session}.check` })
}

async function deadLetterMetric(m: Mover): Promise<Record<string, number>> {
  const values = (await m.metrics.getSingleMetric('xrc_mover_dead_lettered_total')?.get())?.values ?? []
  return Object.fromEntries(values.map((v) => [String(v.labels.code), v.value]))
}

/** `xrc session <args>` as a user runs it, against this session. */
async function xrcSession(s: MoverSession, dir: string, args: string[]): Promise<string> {
  const file = join(dir, 'config.json')
  const info = stackInfo()
  writeFileSync(
    file,
    JSON.stringify({
      kafka: { brokers: info.kafkaBrokers },
      schemaRegistry: { url: info.registryUrl },
      log: { level: 'warn' },
      session: { name: s.session, blockSize: BLOCK, controllers: s.config.session.controllers },
    }),
  )
  const { stdout } = await run(process.execPath, [CLI, '--config', file, 'session', ...args], { timeout: 60_000 })
  return stdout
}

const frozenAt = (m: Mover, controller: number) => () => m.status().frozen.find((f) => f.controller === controller)

describe('bad input on the updates topic', () => {
  it('sets aside records that are not part of a stream, each dead-lettered with its reason, and goes on losing nothing', async () => {
    const { s, m } = await start()
    const c = s.controllers
    await s.send([c.updates(0, [[0, 1, 1]]), c.updates(1, [[0, 2, 1]]), c.updates(2, [[1, 3, 2]])])
    const taken = c.updates(1, [[1, 4, 1]])
    await s.send([taken])
    const valid = s.codec.encode(c.heartbeat(2))
    const bad: [string, number, Promise<number>][] = []
    const add = (code: string, partition: number, offset: Promise<number>): void =>
      void bad.push([code, partition, offset])
    add('XRC_DECODE_FAILED', 0, sendRaw(s, 0, Buffer.from('not avro at all')))
    const unknownId = Buffer.from(valid)
    unknownId.writeInt32BE(0x7ffffff0, 1)
    add('XRC_DECODE_FAILED', 1, sendRaw(s, 1, unknownId))
    const badMagic = Buffer.from(valid)
    badMagic[0] = 1
    add('XRC_DECODE_FAILED', 2, sendRaw(s, 2, badMagic))
    // a controller the session does not have, on partition 0
    add('XRC_INVALID_RECORD', 0, sendRaw(s, 0, s.codec.encode({ ...c.heartbeat(0), controller: 7 })))
    // seqs controller 1 sent before, with a later time: not a re-send
    const conflicting: RecordSet = {
      ...taken,
      minTime: c.now() + 10,
      maxTime: c.now() + 10,
      updates: taken.updates.map((u) => ({ ...u, time: c.now() + 10 })),
    }
    add('XRC_DUPLICATE_SEQUENCE', 1, sendSet(s, conflicting))
    add('XRC_RECORD_TOO_LARGE', 2, sendRaw(s, 2, Buffer.alloc(80 * 1024, 1)))
    await Promise.all(bad.map((b) => b[2]))
    await s.send([taken]) // an exact re-send: dropped, counted, not dead-lettered
    await s.send([c.updates(0, [[1, 9, 1]]), c.updates(2, [[0, 9, 1]])])
    const t = await settle(s, m)

    expectJournalMatches(await readGroups(kafka, admin, s), c.writes, t)
    const entries = await deadLetters(s)
    const expected = await Promise.all(
      bad.map(async ([code, partition, offset]) => ({ code, sourcePartition: partition, sourceOffset: await offset })),
    )
    expect(
      entries
        .map((e) => ({ code: e.code, sourcePartition: e.sourcePartition, sourceOffset: e.sourceOffset }))
        .sort((a, b) => a.sourcePartition - b.sourcePartition || a.sourceOffset - b.sourceOffset),
    ).toEqual(expected.sort((a, b) => a.sourcePartition - b.sourcePartition || a.sourceOffset - b.sourceOffset))
    for (const e of entries) {
      expect(e.sourceTopic).toBe(s.topics.updates)
      expect(e.message).toMatch(/\S/)
      expect(e.action).toBe(e.code === 'XRC_DUPLICATE_SEQUENCE' ? 'dropped' : 'skipped')
      // Kafka Connect's dead-letter headers, so Connect's DLQ tooling reads the same source and reason
      expect(e.connect).toMatchObject({
        '__connect.errors.topic': s.topics.updates,
        '__connect.errors.partition': String(e.sourcePartition),
        '__connect.errors.offset': String(e.sourceOffset),
        '__connect.errors.connector.name': `xrc-mover-${s.session}`,
        '__connect.errors.stage':
          e.code === 'XRC_DECODE_FAILED' || e.code === 'XRC_RECORD_TOO_LARGE' ? 'VALUE_CONVERTER' : 'TASK_PUT',
        '__connect.errors.exception.class.name': `XrcError[${e.code}]`,
        '__connect.errors.exception.message': e.message,
      })
    }
    expect(entries.find((e) => e.code === 'XRC_RECORD_TOO_LARGE')?.message).toMatch(/over mover.maxRecordSetBytes/)
    const byCode = { XRC_DECODE_FAILED: 3, XRC_INVALID_RECORD: 1, XRC_DUPLICATE_SEQUENCE: 1, XRC_RECORD_TOO_LARGE: 1 }
    expect(summarizeDeadLetters(entries).byCode).toEqual(byCode)
    expect(await deadLetterMetric(m)).toEqual(byCode)
    expect(m.status()).toMatchObject({ frozen: [], deadLettered: byCode, duplicateRecordSets: 1 })
    expect(m.health().status).toBe('ok')
  })

  it('freezes a controller whose stream a record breaks, keeps the others, and resumes it by the operator command', async () => {
    const { s, m, dir } = await start()
    const c = s.controllers
    await s.send([c.updates(0, [[0, 1, 1]]), c.updates(1, [[0, 1, 1]]), c.updates(2, [[0, 1, 1]])])
    await settle(s, m)
    const discarded: number[] = []
    let status: MoverStatus | undefined

    // each case: a record breaking a controller's stream at its next seq, the operator's choice, the record that follows
    const cases: { code: string; controller: number; send: () => Promise<number>; discard: boolean }[] = [
      {
        code: 'XRC_INVALID_RECORD',
        controller: 0,
        discard: false,
        send: () =>
          sendSet(
            s,
            c.forge(0, (rs) => ({ ...rs, updates: rs.updates.map((u) => ({ ...u, volume: 'no-such-volume' })) })),
          ),
      },
      {
        code: 'XRC_INVALID_RECORD',
        controller: 1,
        discard: false,
        send: () =>
          sendSet(
            s,
            c.forge(1, (rs) => ({ ...rs, updates: rs.updates.map((u) => ({ ...u, block: 64 })) })),
          ),
      },
      {
        code: 'XRC_INVALID_RECORD',
        controller: 2,
        discard: false,
        send: () =>
          sendSet(
            s,
            c.forge(2, (rs) => ({
              ...rs,
              updates: rs.updates.map((u) => ({ ...u, data: u.data.subarray(0, BLOCK - 1) })),
            })),
          ),
      },
      {
        code: 'XRC_TIME_REGRESSION',
        controller: 0,
        discard: false,
        send: () =>
          sendSet(
            s,
            c.forge(0, (rs) => ({
              ...rs,
              minTime: 1,
              maxTime: 1,
              updates: rs.updates.map((u) => ({ ...u, time: 1 })),
            })),
          ),
      },
      {
        code: 'XRC_RECORD_TOO_LARGE',
        controller: 1,
        discard: false,
        send: () => sendRaw(s, 1, Buffer.alloc(80 * 1024, 2), recordSetHeaders(c.forge(1, (rs) => rs))),
      },
      {
        // a record set the producer sent but that never arrived: the next one shows the gap
        code: 'XRC_SEQUENCE_GAP',
        controller: 2,
        discard: true,
        send: async () => {
          const lost = c.updates(2, [
            [1, 7, 1],
            [1, 8, 1],
          ])
          discarded.push(...lost.updates.map((u) => u.seq))
          c.writes.splice(c.writes.length - lost.updates.length)
          return sendSet(s, c.updates(2, [[1, 9, 1]]))
        },
      },
    ]
    for (const k of cases) {
      const offset = await k.send()
      const frozen = await waitFor(`controller ${k.controller} to freeze on ${k.code}`, frozenAt(m, k.controller), {
        timeoutMs: 30_000,
        intervalMs: 20,
      })
      expect(frozen).toMatchObject({ controller: k.controller, partition: k.controller, offset, code: k.code })
      // the others go on and are kept: their writes are buffered while T waits
      const before = m.status().groupTime ?? 0
      const other = (k.controller + 1) % 3
      await s.send([c.updates(other, [[1, 20, 1]]), c.heartbeat(other)])
      await waitFor(
        'the other controller to be read',
        () => (m.status().bufferedBytes[String(other)] ?? 0) > 0 || undefined,
        { timeoutMs: 30_000, intervalMs: 20 },
      )
      expect(m.status().groupTime ?? 0).toBeLessThan(c.now())
      expect(m.status().groupTime ?? 0).toBeGreaterThanOrEqual(before)
      expect(m.health()).toMatchObject({
        status: 'halted',
        reason: expect.stringContaining(`controller ${k.controller} frozen`),
      })
      expect((await m.metrics.getSingleMetric('xrc_mover_frozen_controllers')?.get())?.values[0]?.value).toBe(1)

      const out = await xrcSession(s, dir, [
        'resume',
        '--controller',
        String(k.controller),
        ...(k.discard ? ['--discard-missing'] : []),
      ])
      expect(out).toMatch(new RegExp(`resume controller ${k.controller} at updates offset ${offset}`))
      await waitFor('the controller to resume', () => (frozenAt(m, k.controller)() === undefined ? true : undefined), {
        timeoutMs: 30_000,
        intervalMs: 20,
      })
      await settle(s, m)
      status = m.status()
      expect(status.frozen).toEqual([])
    }

    const t = await settle(s, m)
    expectJournalMatches(await readGroups(kafka, admin, s), c.writes, t)
    expect(status?.discarded).toEqual([
      expect.objectContaining({ controller: 2, firstSeq: Math.min(...discarded), lastSeq: Math.max(...discarded) }),
    ])
    const summary = summarizeDeadLetters(await deadLetters(s))
    expect(summary.byCode).toEqual({
      XRC_INVALID_RECORD: 3,
      XRC_TIME_REGRESSION: 1,
      XRC_RECORD_TOO_LARGE: 1,
      XRC_SEQUENCE_GAP: 1,
    })
    expect(summary.byAction).toEqual({ frozen: 6 })
    const listed = await xrcSession(s, dir, ['dead-letters', '--json'])
    expect(JSON.parse(listed.trim().split('\n').pop() ?? '{}')).toMatchObject({ summary: { records: 6 } })
    expect(m.health().status).toBe('ok')
  })

  it('applies a resume decision that is on the control topic before a mover meets the record (a mover restarted after the command)', async () => {
    const s = await moverSession(kafka, admin)
    const dir = mkdtempSync(join(tmpdir(), 'xrc-bad-input-'))
    // made now, started once the command is on the control topic
    const m = createMover({ config: s.config, logger: silentLogger, kafka })
    cleanups.push(async () => {
      await m.stop()
      await s.cleanup()
      rmSync(dir, { recursive: true, force: true })
    })
    const c = s.controllers
    await s.send([c.updates(0, [[0, 1, 1]]), ...c.heartbeats()])
    const offset = await sendSet(
      s,
      c.forge(0, (rs) => ({ ...rs, updates: rs.updates.map((u) => ({ ...u, volume: 'no-such-volume' })) })),
    )
    await s.send([c.updates(0, [[0, 2, 1]])])
    await xrcSession(s, dir, ['resume', '--controller', '0', '--offset', String(offset)])
    await m.start()
    const t = await settle(s, m)
    expect(m.status().frozen).toEqual([])
    expectJournalMatches(await readGroups(kafka, admin, s), c.writes, t)
    expect(await deadLetters(s)).toEqual([
      expect.objectContaining({
        sourcePartition: 0,
        sourceOffset: offset,
        code: 'XRC_INVALID_RECORD',
        action: 'frozen',
      }),
    ])
  })
})
