import { InvalidArgumentError } from 'commander'
import { describe, expect, it } from 'vitest'
import { integerArg, parseDuration, parseTime, parseUrl } from './args.js'
import { formatBytes, formatMs, isoMicros } from './format.js'
import { progressBar } from './progress.js'

describe('option parsers', () => {
  it('reads durations with units, seconds by default', () => {
    expect(parseDuration('20')).toBe(20_000)
    expect(parseDuration('1500ms')).toBe(1500)
    expect(parseDuration('2m')).toBe(120_000)
    expect(parseDuration('0.5s')).toBe(500)
    for (const bad of ['', 'abc', '-1', '0', '5 parsecs'])
      expect(() => parseDuration(bad)).toThrow(InvalidArgumentError)
  })

  it('reads times as microseconds, milliseconds or ISO 8601', () => {
    expect(parseTime('1732262400000123')).toBe(1732262400000123)
    expect(parseTime('1732262400000')).toBe(1732262400000000)
    expect(parseTime('2024-11-22T08:00:00.250Z')).toBe(Date.parse('2024-11-22T08:00:00.250Z') * 1000)
    for (const bad of ['12', 'yesterday', '2024-13-45']) expect(() => parseTime(bad)).toThrow(InvalidArgumentError)
  })

  it('bounds integers', () => {
    expect(integerArg(1, 10)('7')).toBe(7)
    for (const bad of ['0', '11', '1.5', 'x', '']) expect(() => integerArg(1, 10)(bad)).toThrow(InvalidArgumentError)
  })

  it('takes http URLs only', () => {
    expect(parseUrl('http://127.0.0.1:7070/')).toBe('http://127.0.0.1:7070')
    expect(() => parseUrl('ftp://x')).toThrow(InvalidArgumentError)
    expect(() => parseUrl('7070')).toThrow(InvalidArgumentError)
  })
})

describe('formats', () => {
  it('prints session times with microseconds', () => {
    expect(isoMicros(1732262400000123)).toBe('2024-11-22T08:00:00.000123Z')
  })
  it('prints durations and sizes for people', () => {
    expect(formatMs(840)).toBe('840 ms')
    expect(formatMs(1250)).toBe('1.25 s')
    expect(formatMs(184_000)).toBe('3 min 4 s')
    expect(formatBytes(512)).toBe('512 B')
    expect(formatBytes(4 * 1024 * 1024)).toBe('4.0 MiB')
  })
  it('draws a bar', () => {
    expect(progressBar(0.5, 10)).toBe('[#####.....]  50%')
    expect(progressBar(2, 4)).toBe('[####] 100%')
  })
})
