import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { XrcError } from '../lib/errors.js'
import { POM, stackVersions } from './paths.js'
import type { StackPaths } from './paths.js'

/**
 * The registry's runnable jar: `quarkus-run.jar` (fast-jar layout, 3.1+) or
 * `*-runner.jar` (legacy layout, 3.0.x), at the archive's top or one folder
 * down: the archive may or may not have a top-level folder.
 */
export function findRegistryJar(apicurioHome: string): string | undefined {
  if (!existsSync(apicurioHome)) return undefined
  const pick = (dir: string): string | undefined => {
    const files = readdirSync(dir)
    const name = files.find((f) => f === 'quarkus-run.jar') ?? files.find((f) => f.endsWith('-runner.jar'))
    return name === undefined ? undefined : join(dir, name)
  }
  const direct = pick(apicurioHome)
  if (direct !== undefined) return direct
  for (const entry of readdirSync(apicurioHome, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue
    const nested = pick(join(apicurioHome, entry.name))
    if (nested !== undefined) return nested
  }
  return undefined
}

export function isInstalled(paths: StackPaths): boolean {
  return (
    existsSync(join(paths.kafkaLibs)) &&
    readdirSync(paths.kafkaLibs).some((f) => f.startsWith('kafka_2.13-')) &&
    findRegistryJar(paths.apicurioHome) !== undefined
  )
}

/**
 * Fetches the stack's jars from Maven Central into the cache folder with
 * `mvn dependency:copy-dependencies` / `unpack` (see stack/pom.xml). Does
 * nothing when they are there already.
 */
export async function installStack(paths: StackPaths, say: (line: string) => void): Promise<void> {
  if (isInstalled(paths)) return
  say('fetching Kafka and Apicurio Registry from Maven Central (first run only)...')
  const args = ['-B', '-q', '-f', POM, `-Dstack.dir=${paths.root}`, 'process-resources']
  const output: string[] = []
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn('mvn', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout.on('data', (b: Buffer) => output.push(b.toString()))
    child.stderr.on('data', (b: Buffer) => output.push(b.toString()))
    child.on('error', (err) => reject(new XrcError('XRC_STACK_INSTALL_FAILED', { reason: 'noMaven', cause: err })))
    child.on('close', (c) => resolve(c ?? 1))
  })
  if (code === 0) await extractApicurio(paths)
  if (code !== 0 || !isInstalled(paths)) {
    throw new XrcError('XRC_STACK_INSTALL_FAILED', {
      reason: 'mavenFailed',
      args: args.join(' '),
      exitCode: code,
      output: output.join('').split('\n').slice(-30).join('\n'),
    })
  }
}

/** Extracts the Apicurio archive that Maven copied into downloads/. */
async function extractApicurio(paths: StackPaths): Promise<void> {
  if (findRegistryJar(paths.apicurioHome) !== undefined) return
  const archive = readdirSync(paths.downloads).find(
    (f) => f === `apicurio-registry-app-${stackVersions().apicurio}-all.tar.gz`,
  )
  if (archive === undefined)
    throw new XrcError('XRC_STACK_INSTALL_FAILED', { reason: 'noArchive', dir: paths.downloads })
  mkdirSync(paths.apicurioHome, { recursive: true })
  await new Promise<void>((resolve, reject) => {
    const child = spawn('tar', ['-xzf', join(paths.downloads, archive), '-C', paths.apicurioHome], { stdio: 'inherit' })
    child.on('error', reject)
    child.on('close', (c) =>
      c === 0
        ? resolve()
        : reject(new XrcError('XRC_STACK_INSTALL_FAILED', { reason: 'untarFailed', archive, exitCode: c ?? 'none' })),
    )
  })
}
