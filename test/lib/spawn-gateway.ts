import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { seedPgliteDataDir } from './database-templates.js'
import { repoRoot } from './repo-root.js'
import { TEST_NODE_FLAGS } from '../runner/test-node-flags.js'

/**
 * test/lib/gateway-process, as the tests run: bundled into dist/test (`make test`, scripts/bundle.mjs)
 * it runs with plain node; from source it runs through tsx.
 */
const gatewayProcessArgv = import.meta.url.endsWith('.js')
  ? [...TEST_NODE_FLAGS, path.join(repoRoot, 'dist/test/lib/gateway-process.js')]
  : ['--import', 'tsx', path.join(repoRoot, 'test/lib/gateway-process.ts')]

interface Teardown {
  teardown(fn: () => Promise<void> | void): void
}

export interface GatewayProcess {
  child: ChildProcess
  httpPort: number
  sshPort: number
  hostPublicKey: string
  /** When it printed that it listens (ms since the epoch). */
  readyAt: number
  /** Everything it printed to stdout so far (its JSON log lines, at the level its env asks for). */
  output(): string
  /** Sends a signal and resolves when the process has exited. */
  stop(signal: NodeJS.Signals): Promise<void>
}

/**
 * Starts test/lib/gateway-process with exactly `env` (plus PATH) and waits until it listens.
 * Without DATABASE_URL it runs on PGlite in its data dir, seeded already migrated (initdb costs seconds).
 */
export async function spawnGateway(t: Teardown, env: Record<string, string>): Promise<GatewayProcess> {
  const dataDir = env.EDGETAINER_DATA_DIR
  if (!env.DATABASE_URL && dataDir && !existsSync(path.join(dataDir, 'pglite'))) await seedPgliteDataDir(dataDir)
  const child = spawn(process.execPath, gatewayProcessArgv, {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  })
  let stderr = ''
  let stdout = ''
  child.stderr!.on('data', (d) => (stderr += d))
  child.stdout!.on('data', (d) => (stdout += d))
  const info = await new Promise<{ httpPort: number; sshPort: number; hostPublicKey: string }>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (d) => {
      out += d
      // Its logs share stdout; the ready line has a marker of its own.
      const line = out.split('\n').find((l) => l.startsWith('GATEWAY_READY '))
      if (line) resolve(JSON.parse(line.slice('GATEWAY_READY '.length)))
    })
    child.once('exit', (code) => reject(new Error(`gateway process exited (${code}) before listening: ${stderr.slice(-2000)}`)))
  })
  return {
    child,
    ...info,
    readyAt: Date.now(),
    output: () => stdout,
    async stop(signal) {
      child.kill(signal)
      await exited
    },
  }
}
