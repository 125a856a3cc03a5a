/**
 * Live progress for long commands (demo, replay). On a terminal one status
 * line is redrawn in place and notes scroll above it; elsewhere (a pipe, a
 * CI log) the status line is printed as a plain line at most every
 * `plainEveryMs`, so logs stay readable.
 */
export interface ProgressOutput {
  /** The current status line (redrawn on a TTY, throttled elsewhere). */
  update(line: string): void
  /** A line that stays. */
  note(line: string): void
  /** Leaves the last status line in place and ends the live display. */
  end(): void
}

export function createProgressOutput(
  stream: NodeJS.WriteStream,
  options: { plainEveryMs?: number; tty?: boolean } = {},
): ProgressOutput {
  const tty = options.tty ?? stream.isTTY === true
  const every = options.plainEveryMs ?? 5000
  let current = ''
  let lastPlain = 0
  let printed = ''
  const fit = (line: string): string =>
    stream.columns && line.length >= stream.columns ? `${line.slice(0, stream.columns - 2)}…` : line
  return {
    update(line) {
      current = line
      if (tty) {
        stream.write(`\r\x1b[2K${fit(line)}`)
      } else if (Date.now() - lastPlain >= every) {
        lastPlain = Date.now()
        printed = line
        stream.write(`${line}\n`)
      }
    },
    note(line) {
      if (tty) stream.write(`\r\x1b[2K${line}\n${fit(current)}`)
      else stream.write(`${line}\n`)
    },
    end() {
      // elsewhere the last state may not have been printed yet (throttled): print it once
      if (tty && current !== '') stream.write('\n')
      else if (!tty && current !== '' && current !== printed) stream.write(`${current}\n`)
      current = ''
      printed = ''
    },
  }
}

/** A text progress bar: [##########..........]  50% */
export function progressBar(fraction: number, width = 24): string {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0))
  const full = Math.round(f * width)
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${String(Math.floor(f * 100)).padStart(3)}%`
}
