/**
 * Global setup of the fault suite's figures: each scenario run appends its
 * figures (one JSON line) to a file; after all test files, the table per
 * scenario and in total is printed.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'
import { figuresTable, type ScenarioFigures } from './harness/figures.js'
import type {} from './harness/providedContext.js'

export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'xrc-fault-figures-'))
  const file = join(dir, 'figures.jsonl')
  project.provide('faultFigures', file)
  return () => {
    let lines: string[] = []
    try {
      lines = readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
    } catch {
      // no fault scenario ran (a filtered run)
    }
    if (lines.length > 0)
      console.log(`\nfault suite figures\n${figuresTable(lines.map((l) => JSON.parse(l) as ScenarioFigures))}\n`)
    rmSync(dir, { recursive: true, force: true })
  }
}
