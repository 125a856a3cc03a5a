import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { collapseRepeats, logDigest, shortLine, shortTail } from './logDigest.js'

const at = (ms: number): number => Date.UTC(2026, 11, 7, 0, 0, 20) + ms
const pino = (fields: Record<string, unknown>): string =>
  JSON.stringify({ level: 30, time: at(0), pid: 875, hostname: 'vm', name: 'xrc-mover', session: 's1', ...fields })

describe('shortLine', () => {
  it('keeps time, level, component, message, error and the other fields; drops pid, hostname, name and session', () => {
    const line = pino({
      level: 50,
      time: at(562),
      component: 'kafkajs',
      namespace: 'Connection',
      err: { type: 'XrcError', message: 'timed out', stack: 'at x' },
      correlationId: 8748,
      msg: 'Response AddPartitionsToTxn',
    })
    expect(shortLine(line).text).toBe(
      '00:00:20.562 ERROR kafkajs: Response AddPartitionsToTxn err=XrcError: timed out namespace=Connection correlationId=8748',
    )
    expect(shortLine(line).level).toBe(50)
  })

  it('names the process when there is no component, and leaves a line that is not JSON as it is', () => {
    expect(shortLine(pino({ msg: 'mover: running' })).text).toBe('00:00:20.000 INFO xrc-mover: mover: running')
    expect(shortLine('Exception in thread "main"').text).toBe('Exception in thread "main"')
    expect(shortLine('42').text).toBe('42')
  })

  it('keeps to one line: stacks left out, line breaks joined', () => {
    const line = pino({ msg: 'consumer crashed', err: { type: 'E', message: 'a\n  Caused by: b' }, stack: 'E\n at x' })
    expect(shortLine(line).text).toBe('00:00:20.000 INFO xrc-mover: consumer crashed err=E: a | Caused by: b')
  })

  it('clips a long line', () => {
    expect(shortLine(pino({ msg: 'x'.repeat(1000) }), 100).text).toHaveLength(101)
  })
})

describe('collapseRepeats', () => {
  it('counts lines in a row with the same level, component and message into the first', () => {
    const lines = [0, 180, 1626, 3327].map((ms, i) =>
      shortLine(pino({ level: 50, time: at(ms), component: 'kafkajs', correlationId: i, msg: 'Failed to send' })),
    )
    const other = shortLine(pino({ time: at(4000), msg: 'group committed' }))
    expect(collapseRepeats([...lines, other, ...lines.slice(0, 1)])).toEqual([
      `${lines[0]?.text} (x4 to 00:00:23.327)`,
      other.text,
      lines[0]?.text,
    ])
    expect(collapseRepeats([])).toEqual([])
  })
})

describe('logDigest', () => {
  it('gives each log its last warnings, then its last lines not among them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xrc-log-digest-'))
    try {
      const lines = [
        pino({ level: 40, msg: 'old warning' }),
        ...Array.from({ length: 5 }, (_, i) => pino({ time: at(i), msg: `line ${i}` })),
        pino({ level: 50, time: at(9), msg: 'the last error' }),
      ]
      writeFileSync(join(dir, 'mover.log'), `${lines.join('\n')}\n`)
      writeFileSync(join(dir, 'notes.txt'), 'not a log')
      const digest = logDigest(dir, 1, 3).split('\n')
      expect(digest).toEqual([
        '--- mover.log: 7 lines; last warnings and errors, then last lines',
        '00:00:20.009 ERROR xrc-mover: the last error',
        '...',
        '00:00:20.003 INFO xrc-mover: line 3',
        '00:00:20.004 INFO xrc-mover: line 4',
      ])
      expect(shortTail(lines.join('\n'), 2)).toBe(
        '00:00:20.004 INFO xrc-mover: line 4\n00:00:20.009 ERROR xrc-mover: the last error',
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
