import { describe, expect, it } from 'vitest'
import { CHECKED_SETTINGS, serverWarnings } from './serverChecks.js'

const TABLE = '"s".block_rows'

describe('serverWarnings', () => {
  it('warns of each checked setting that is off, and of nothing else, in every combination', () => {
    // every on/off combination of the three settings, plus one missing each
    const values = ['on', 'off', undefined] as const
    for (const autovacuum of values) {
      for (const fsync of values) {
        for (const fullPageWrites of values) {
          const settings: Record<string, string> = {}
          if (autovacuum) settings['autovacuum'] = autovacuum
          if (fsync) settings['fsync'] = fsync
          if (fullPageWrites) settings['full_page_writes'] = fullPageWrites
          const warned = serverWarnings(settings, TABLE).map((w) => w.fields.setting)
          const expected = CHECKED_SETTINGS.filter((n) => settings[n] === 'off')
          expect(warned).toEqual(expected)
        }
      }
    }
  })

  it('names the setting, the table and the remedy', () => {
    const [vacuum] = serverWarnings({ autovacuum: 'off' }, TABLE)
    expect(vacuum?.fields).toEqual({ setting: 'autovacuum', value: 'off', table: TABLE })
    expect(vacuum?.message).toContain('autovacuum off')
    expect(vacuum?.message).toContain(`VACUUM ${TABLE}`)
    const [fsync] = serverWarnings({ fsync: 'off' }, TABLE)
    expect(fsync?.message).toContain('fsync off')
    expect(fsync?.message).toContain(TABLE)
    expect(fsync?.message).toContain('turn fsync on')
  })

  it('ignores settings it does not check', () => {
    expect(serverWarnings({ synchronous_commit: 'off', shared_buffers: '16384' }, TABLE)).toEqual([])
  })
})
