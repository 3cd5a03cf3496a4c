import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { AGENT_EXECUTABLE_NAME } from '../../server/provision/agent-executable.js'
import { repoRoot } from './repo-root.js'
import { alive } from './pids.js'

const root = repoRoot
export const AGENT_DIR = path.join(root, 'dist', 'agent')
export const AGENT_FILE = path.join(AGENT_DIR, AGENT_EXECUTABLE_NAME)
const LOCK = path.join(root, 'dist', '.agent-build-lock')

/** Besides the bundle's own inputs (listed by the build next to the executable), what decides how it is built. */
const buildFiles = ['scripts/build-agent.sh', 'scripts/bundle-agent.mjs', 'package-lock.json']

function mtime(relative: string): number {
  const full = path.join(root, relative)
  // A source that is gone (renamed, deleted) makes the build stale as surely as a newer one.
  return existsSync(full) ? statSync(full).mtimeMs : Infinity
}

/** Built, and newer than every source file that went into it. */
function isFresh(): boolean {
  const inputs = `${AGENT_FILE}.inputs`
  if (![AGENT_FILE, `${AGENT_FILE}.sha512`, `${AGENT_FILE}.json`, inputs].every(existsSync)) return false
  const sources = readFileSync(inputs, 'utf8').split('\n').filter(Boolean)
  return statSync(AGENT_FILE).mtimeMs >= Math.max(...[...sources, ...buildFiles].map(mtime))
}

/** mkdir is atomic: the test process that creates the lock builds, the others wait for it. */
function tryLock(): boolean {
  mkdirSync(path.dirname(LOCK), { recursive: true })
  try {
    mkdirSync(LOCK)
    writeFileSync(path.join(LOCK, 'pid'), String(process.pid))
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    const owner = Number(readFileSync(path.join(LOCK, 'pid'), 'utf8') || 0)
    // A build whose process died leaves its lock behind: take it over.
    if (owner && !alive(owner)) rmSync(LOCK, { recursive: true, force: true })
    return false
  }
}

async function build(): Promise<void> {
  // x64 only: the tests that need arm64 build it themselves (it fetches Node's arm64 binary once).
  const child = spawn('scripts/build-agent.sh', [], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AGENT_ARCHES: 'x64' } })
  let output = ''
  child.stdout.on('data', (d) => (output += d))
  child.stderr.on('data', (d) => (output += d))
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  if (code !== 0) throw new Error(`scripts/build-agent.sh failed (${code}):\n${output}`)
}

/**
 * The real agent executable in dist/agent, as `make agent` makes it: built
 * here when missing or older than its sources, once even when several test
 * files ask at the same time.
 */
export async function ensureAgentBuilt(deadlineMs = 200_000): Promise<{ dir: string; file: string; sha512: string }> {
  const deadline = Date.now() + deadlineMs
  // Not while another process builds: it moves the new executable into place before its .sha512, and
  // in between the build looks fresh with the previous build's hash.
  while (existsSync(LOCK) || !isFresh()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the agent executable to be built')
    if (!tryLock()) {
      await delay(250)
      continue
    }
    try {
      if (!isFresh()) await build()
    } finally {
      rmSync(LOCK, { recursive: true, force: true })
    }
  }
  return { dir: AGENT_DIR, file: AGENT_FILE, sha512: readFileSync(`${AGENT_FILE}.sha512`, 'utf8').trim() }
}
