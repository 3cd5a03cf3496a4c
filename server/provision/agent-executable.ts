import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { open, readFile, type FileHandle } from 'node:fs/promises'
import path from 'node:path'
import { DomainError } from '../errors.js'
import { packageRoot } from '../package-root.js'

export const AGENT_EXECUTABLE_NAME = 'edgetainer-agent-linux-x64'
/** The build's file name for an architecture (`make agent` builds x64 and arm64). */
export const agentExecutableName = (arch: 'x64' | 'arm64') => `edgetainer-agent-linux-${arch}`
/** The one line the server prints at start and answers with while there is nothing to serve. */
export const AGENT_NOT_BUILT_MESSAGE = 'the agent executable has not been built: run `make agent` on the gateway host'

export class AgentExecutableUnavailableError extends DomainError {
  constructor(message = AGENT_NOT_BUILT_MESSAGE) {
    super('AGENT_NOT_BUILT', message)
  }
}

export interface AgentExecutableInfo {
  /** Lowercase hex, as `sha512sum` prints it. */
  sha512: string
  size: number
}

export interface OpenedAgentExecutable extends AgentExecutableInfo {
  /** Open on the very file that was hashed; the caller streams it and closes it. */
  handle: FileHandle
}

/** dist/agent under the package root. */
export function defaultAgentDir(): string {
  return path.join(packageRoot(), 'dist', 'agent')
}

async function hashOf(handle: FileHandle): Promise<string> {
  const hash = createHash('sha512')
  for await (const chunk of handle.createReadStream({ start: 0, autoClose: false })) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/**
 * The agent executable that `make agent` leaves in `dir`, with its `.sha512`.
 * The gateway hashes the file itself and serves it only when that matches the
 * published hash, so a device never gets a half-built or mismatched file (its
 * Ignition would fail on the hash anyway, but with nothing to tell the tech
 * why). The hash is remembered per file identity, so a rebuild is picked up
 * without a restart and an unchanged file is hashed once.
 */
export function createAgentExecutable(deps: { dir: string; arch?: 'x64' | 'arm64' }) {
  const name = agentExecutableName(deps.arch ?? 'x64')
  const file = path.join(deps.dir, name)
  let verified: { identity: string; sha512: string } | undefined

  /** Opens and checks the executable; throws AgentExecutableUnavailableError with the reason when it cannot be served. */
  async function openVerified(): Promise<OpenedAgentExecutable> {
    let handle: FileHandle
    try {
      handle = await open(file, 'r')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new AgentExecutableUnavailableError()
      throw err
    }
    try {
      const stat = await handle.stat()
      const published = (await readFile(`${file}.sha512`, 'utf8').catch(() => '')).trim().split(/\s+/)[0] ?? ''
      if (!/^[0-9a-f]{128}$/.test(published)) throw new AgentExecutableUnavailableError(`the agent executable has no valid ${name}.sha512 next to it: run \`make agent\` on the gateway host`)
      const identity = `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}`
      if (verified?.identity !== identity) verified = { identity, sha512: await hashOf(handle) }
      if (verified.sha512 !== published) throw new AgentExecutableUnavailableError('the agent executable does not match its .sha512 (a build may be in progress): run `make agent` on the gateway host')
      return { handle, sha512: published, size: stat.size }
    } catch (err) {
      await handle.close()
      throw err
    }
  }

  /** The published hash and size, or the reason there is none. */
  async function info(): Promise<AgentExecutableInfo> {
    const opened = await openVerified()
    await opened.handle.close()
    return { sha512: opened.sha512, size: opened.size }
  }

  /** Whether a build exists at all; for the one line the server prints at start. */
  function isBuilt(): boolean {
    return existsSync(file) && existsSync(`${file}.sha512`)
  }

  return { file, open: openVerified, info, isBuilt }
}

export type AgentExecutable = ReturnType<typeof createAgentExecutable>
