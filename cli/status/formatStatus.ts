/**
 * `xrc status` for people: one block per session, times as UTC time of day
 * with how long ago, and a closing list of what could not be read.
 */
import { clockMicros, formatBytes, formatMs, isoMicros } from '../format.js'
import type { SessionStatus } from './collectStatus.js'

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
  lines.push(
    `  secondary          PostgreSQL schema ${s.secondary.schema}${s.secondary.exists === false ? ' (none yet)' : ''}`,
  )
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
