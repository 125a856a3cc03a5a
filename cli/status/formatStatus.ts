/**
 * `xrc status` for people: one block per session, times as UTC time of day
 * with how long ago, and a closing list of what could not be read.
 */
import { clockMicros, formatBytes, formatMs, isoMicros } from '../format.js'
import type { SessionStatus } from './collectStatus.js'
import { currentText, lastText } from '../drill/drillText.js'
import type { DrillView } from './drillView.js'
import { replicationLines } from './replicationView.js'

function ago(micros: number | undefined): string {
  if (micros === undefined) return '-'
  return `${clockMicros(micros)} (${formatMs(Date.now() - micros / 1000)} ago)`
}

/** Widths of the controller table's columns (the last one is not padded). */
const COLUMNS = [4, 30, 22, 12, 11]
export function formatStatus(s: SessionStatus): string {
  const lines: string[] = [`session ${s.session}   (at ${s.at})`]
  const j = s.journaledGroup
  const a = s.appliedGroup
  const journaled = j
    ? `${isoMicros(j.time)}, group ${j.seq} journaled (${formatMs(Date.now() - j.time / 1000)} ago)`
    : '- (no group journaled yet)'
  lines.push(`  consistency time   ${journaled}`)
  const applied = a
    ? `group ${a.seq}, T ${isoMicros(a.time)}${a.appliedAt ? `, applied at ${a.appliedAt}` : ''}`
    : '- (no group applied yet)'
  lines.push(`  last applied       ${applied}`)
  const rpo =
    s.rpoMs === undefined ? '-' : `${formatMs(s.rpoMs)} (writes after the applied T would be lost with the primary)`
  lines.push(`  RPO now            ${rpo}`)
  lines.push(
    `  journal            ${s.journal.topic}: end offset ${s.journal.endOffset ?? '-'}, lag ` +
      `${s.journal.lagGroups ?? '-'} groups (${s.journal.lagOffsets ?? '-'} offsets) behind the ` +
      `secondary`,
  )
  const r = s.journal.recoverableFrom
  const window = r
    ? `from group ${r.seq} (T ${isoMicros(r.time)}, journal offset ${r.offset}): its updates and later ones retained`
    : '- (unknown)'
  lines.push(`  recovery window    ${window}`)
  const codes = Object.entries(s.deadLetter.byCode ?? {})
    .map(([code, n]) => `${code} ${n}`)
    .join(', ')
  lines.push(
    `  dead letters       ${s.deadLetter.records ?? '-'} records in ${s.deadLetter.topic}${codes ? ` (${codes})` : ''}`,
  )
  for (const f of s.deadLetter.frozen ?? [])
    lines.push(
      `    controller ${f.controller} froze at updates offset ${f.offset} [${f.code}]: \`xrc session ` +
        `resume --controller ${f.controller}\``,
    )
  if (s.replication) lines.push(...replicationLines(s.replication))
  lines.push(
    `  secondary          PostgreSQL schema ${s.secondary.schema}${s.secondary.exists === false ? ' (none yet)' : ''}`,
  )
  const fenced = s.secondary.fenced
  if (fenced !== undefined)
    lines.push(
      `  fenced             by the failover to session ${fenced.by}${fenced.at ? ` at ${fenced.at}` : ''}: ` +
        'no group of this session is applied any more',
    )
  const snap = s.secondary.snapshots
  if (snap !== undefined)
    lines.push(
      `  snapshots          ${snap.active} active, ${snap.pending} pending; ${snap.versions} kept block versions ` +
        `(${formatBytes(snap.bytes)} stored): xrc snapshot list`,
    )
  if (s.drill !== undefined) lines.push(...drillLines(s.drill))
  if (s.secondaries !== undefined && s.secondaries.length > 0) lines.push(...secondaryLines(s))
  lines.push('  controllers')
  const row = (cells: string[]): string => `    ${cells.map((cell, i) => cell.padEnd(COLUMNS[i] ?? 0)).join('')}`
  lines.push(row(['id', 'latest time', 'last record', 'end offset', 'mover lag', 'sidefile']))
  for (const c of s.controllers) {
    const last = c.lastRecord ? `${c.lastRecord.kind ?? '?'} seq ${c.lastRecord.lastSeq ?? '?'}` : '-'
    const waiting = c.primary?.waitingWriters ? `, ${c.primary.waitingWriters} waiting` : ''
    const side = c.primary
      ? `${c.primary.sidefileEntries} writes (${formatBytes(c.primary.sidefileBytes)})${waiting}`
      : '-'
    lines.push(
      row([String(c.id), ago(c.latestTime), last, String(c.endOffset ?? '-'), String(c.moverLag ?? '-'), side]),
    )
  }
  const services = Object.entries(s.services).filter(([, v]) => v?.reachable)
  if (services.length > 0) {
    lines.push('  services')
    for (const [name, v] of services)
      lines.push(
        `    ${name.padEnd(9)}${v?.state ?? '?'}  ${v?.url ?? ''}` +
          (v?.halt ? `  HALTED: ${v.halt.message}${v.halt.code ? ` [${v.halt.code}]` : ''}` : ''),
      )
  }
  if (s.nbd) {
    const where = [s.nbd.socket, s.nbd.tcp].filter(Boolean).join(', ')
    lines.push(`  nbd                ${where}; ${s.nbd.connections} of ${s.nbd.maxConnections} connections open`)
    for (const e of s.nbd.exports)
      lines.push(
        `    ${e.name.padEnd(16)}controller ${String(e.controller).padEnd(4)}${formatBytes(e.bytes).padEnd(10)}` +
          `${String(e.connections).padStart(3)} conn  ${e.writesPerSecond.toFixed(1).padStart(8)} writes/s  ` +
          `${formatBytes(e.writeBytesPerSecond)}/s  (${e.writes} writes, ${formatBytes(e.writeBytes)} since start)`,
      )
  }
  if (s.unavailable.length > 0) {
    lines.push('  unavailable')
    for (const u of s.unavailable) lines.push(`    ${u}`)
  }
  return lines.join('\n')
}

/** Every secondary heard on the applied topic, the configured one marked; the slowest holds the primary's discard. */
function secondaryLines(s: SessionStatus): string[] {
  const lines = ['  secondaries        (each as it last told the primary; the slowest holds its change generations)']
  for (const r of s.secondaries ?? []) {
    const at = r.groupTime === undefined ? 'no group yet' : `group ${r.groupSeq}, T ${isoMicros(r.groupTime)}`
    const lag = r.lagGroups === undefined ? '' : `, ${r.lagGroups} groups behind`
    const mine = r.name === s.secondary.schema ? '  (configured)' : ''
    lines.push(`    ${r.name.padEnd(24)}${at}${lag}, ${r.image.toLowerCase()}${mine}`)
  }
  return lines
}

/** The running drill, if any, and the last one stopped (xrc drill status says the same). */
function drillLines(d: DrillView): string[] {
  const lines = d.current ? [`  drill              ${currentText(d.current).replace(/^drill: /, '')}`] : []
  if (d.last) lines.push(`  last drill         ${lastText(d.last).replace(/^last drill: /, '')}`)
  return lines
}
