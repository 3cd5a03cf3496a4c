import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import path from 'node:path'
import { z } from 'zod'
import { CliError, EXIT } from './cli-error.js'

/** What `login` stores. The token is an API token the CLI created (or one the user gave); never a password. */
const credentialsSchema = z.object({
  url: z.string().url(),
  token: z.string().min(1),
  username: z.string(),
  /** Set when the CLI created the token itself, so `logout` revokes it on the gateway. */
  token_id: z.string().nullable(),
  created_at: z.string(),
})

export type Credentials = z.infer<typeof credentialsSchema>

export const CONFIG_FILE = 'config.json'

/** `$XDG_CONFIG_HOME/edgetainer`, else `~/.config/edgetainer` (the XDG base directory default). */
export function configDir(env: NodeJS.ProcessEnv): string {
  const xdg = env.XDG_CONFIG_HOME
  // The spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(env.HOME || homedir(), '.config')
  return path.join(base, 'edgetainer')
}

/**
 * The CLI's private directory: 0700, created on first use and tightened if
 * something loosened it, since it holds an API token and an SSH key.
 */
export function ensurePrivateDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  if ((statSync(dir).mode & 0o077) !== 0) chmodSync(dir, 0o700)
  return dir
}

/** Writes a private file atomically: a temp file at 0600 renamed over the old one, so no reader sees half of it. */
export function writePrivateFile(file: string, content: string): void {
  ensurePrivateDir(path.dirname(file))
  const temp = `${file}.${process.pid}.tmp`
  writeFileSync(temp, content, { mode: 0o600 })
  chmodSync(temp, 0o600)
  renameSync(temp, file)
}

export function createCliConfig(deps: { env: NodeJS.ProcessEnv; warn(line: string): void }) {
  const dir = configDir(deps.env)
  const file = path.join(dir, CONFIG_FILE)

  function read(): Credentials | undefined {
    if (!existsSync(file)) return undefined
    // Like ssh with a private key: a token others can read is fixed, and the user is told.
    if ((statSync(file).mode & 0o077) !== 0) {
      chmodSync(file, 0o600)
      deps.warn(`edgetainer: ${file} was readable by others; its mode is now 0600`)
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'))
    } catch {
      throw new CliError(EXIT.auth, `${file} is not valid JSON; run \`edgetainer login\` again`)
    }
    const result = credentialsSchema.safeParse(parsed)
    if (!result.success) throw new CliError(EXIT.auth, `${file} is not a login this CLI wrote; run \`edgetainer login\` again`)
    return result.data
  }

  function write(credentials: Credentials): void {
    writePrivateFile(file, JSON.stringify(credentials, null, 2) + '\n')
  }

  function remove(): boolean {
    if (!existsSync(file)) return false
    rmSync(file)
    return true
  }

  return { dir, file, read, write, remove }
}

export type CliConfig = ReturnType<typeof createCliConfig>
