/**
 * Which session a demo runs in. Without --session each run gets its own
 * name (demo-YYYYMMDD-HHMMSS), so reruns never collide with earlier data;
 * a marker file in the session's folder records that the demo made it, and
 * the next run removes such earlier demo sessions once their process is
 * gone (only the latest is kept, to look at with status, audit, export and
 * replay). A session named with --session is never removed unless asked
 * (--fresh), and never by a later run.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

const MARKER = 'demo.json'

/** What the marker file records. */
export interface DemoMarker {
  session: string
  /** The demo process (a live one's session is never pruned). */
  pid: number
  /** Named by the demo itself (prunable), not by the user. */
  auto: boolean
  startedAt: string
}

/** A fresh session name for a demo run. */
export function autoDemoName(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)
  return `demo-${stamp}-${randomBytes(2).toString('hex')}`
}

export async function writeDemoMarker(folder: string, marker: DemoMarker): Promise<void> {
  await mkdir(folder, { recursive: true })
  await writeFile(join(folder, MARKER), `${JSON.stringify(marker)}\n`)
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists, it is just not ours
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Sessions in `dataDir` that earlier demo runs named themselves and whose process has ended. */
export async function earlierDemoSessions(dataDir: string, except: string): Promise<string[]> {
  const entries = await readdir(dataDir, { withFileTypes: true }).catch(() => [])
  const found: string[] = []
  for (const e of entries) {
    if (!e.isDirectory() || e.name === except || !e.name.startsWith('demo-')) continue
    let marker: DemoMarker
    try {
      marker = JSON.parse(await readFile(join(dataDir, e.name, MARKER), 'utf8')) as DemoMarker
    } catch {
      continue // not made by a demo run, or not ours to judge: leave it
    }
    if (marker.auto && marker.session === e.name && !alive(marker.pid)) found.push(e.name)
  }
  return found.sort()
}
