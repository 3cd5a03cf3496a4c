import { accessSync, constants, statSync } from 'node:fs'
import path from 'node:path'
import { execa } from 'execa'
import type { Logger } from '../agent-logger.js'
import { createEngineApi, resolveDockerHost } from './engine-api.js'

export interface ExecResult {
  exitCode: number | undefined
  stdout: string
  stderr: string
  failed: boolean
  timedOut: boolean
}

export class DockerUnavailableError extends Error {
  override name = 'DockerUnavailableError'
}

interface Resolved {
  docker: string
  compose: string[]
}

/**
 * The last lines of a command's error output: enough to say why, short
 * enough for a status report. Never stdout: `compose config` prints the
 * resolved environment there, secrets included.
 */
export function errorSummary(r: ExecResult, maxLines = 8): string {
  const text = r.stderr.trim()
  const lines = text.split('\n').filter((l) => l.trim())
  const tail = lines.slice(-maxLines).join('\n')
  if (r.timedOut) return `timed out${tail ? `: ${tail}` : ''}`
  return tail || `exit code ${r.exitCode ?? 'unknown'}`
}

/**
 * With no PATH at all (a service started with an empty environment, as on a device's first boot), execvp
 * and so every command the agent runs searches glibc's default path; the search here must agree.
 */
const DEFAULT_SEARCH_PATH = '/bin:/usr/bin'

/** Whether `name` is an executable file in one of PATH's folders, as execvp would find it. */
function executableOnPath(name: string): boolean {
  return (process.env.PATH ?? DEFAULT_SEARCH_PATH).split(path.delimiter).some((dir) => {
    if (!dir) return false
    try {
      accessSync(path.join(dir, name), constants.X_OK)
      return statSync(path.join(dir, name)).isFile()
    } catch {
      return false
    }
  })
}

/**
 * The docker and compose command lines, and dockerd's Engine API for reads. `configured` is the agent config's
 * `docker` key: a compose command (`docker compose`, `docker-compose`) or a
 * docker binary. Unset, `docker compose` is used if the plugin answers,
 * else `docker-compose`. Both read the same files the same way: environments
 * travel in the release's 0600 compose override (see compose-environment.ts),
 * never on these command lines. `host` is the agent's `docker_host`: the commands get it as DOCKER_HOST,
 * so they and the Engine API reads always see the same dockerd.
 */
export function createDockerCli(deps: { configured?: string; host?: string; logger: Logger }) {
  let resolved: Promise<Resolved> | undefined
  const api = createEngineApi(resolveDockerHost(deps.host, process.env))
  const env = { DOCKER_HOST: api.host }

  async function run(file: string, args: string[], options: { timeoutMs?: number; cwd?: string } = {}): Promise<ExecResult> {
    const r = await execa(file, args, { reject: false, timeout: options.timeoutMs ?? 120_000, cwd: options.cwd, stdin: 'ignore', maxBuffer: 64 * 1024 * 1024, env })
    return { exitCode: r.exitCode, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? r.message ?? ''), failed: Boolean(r.failed), timedOut: Boolean(r.timedOut) }
  }

  async function pluginWorks(docker: string): Promise<boolean> {
    const r = await run(docker, ['compose', 'version'], { timeoutMs: 20_000 })
    return !r.failed
  }

  async function resolve(): Promise<Resolved> {
    const words = deps.configured?.trim().split(/\s+/) ?? []
    const isCompose = words.length > 1 ? words.at(-1) === 'compose' : path.basename(words[0] ?? '').includes('compose')
    if (words.length && isCompose) return { docker: words.length > 1 ? words[0]! : 'docker', compose: words }
    const docker = words[0] ?? 'docker'
    if (await pluginWorks(docker)) return { docker, compose: [docker, 'compose'] }
    // docker-compose v1 is found on PATH, not run: it is Python, and `docker-compose version` costs a small
    // device seconds of CPU at every agent start. A broken one fails its first real use, with its own words.
    if (executableOnPath('docker-compose')) return { docker, compose: ['docker-compose'] }
    throw new DockerUnavailableError('neither `docker compose` nor `docker-compose` works on this device')
  }

  function commands(): Promise<Resolved> {
    resolved ??= resolve().catch((err) => {
      resolved = undefined
      throw err
    })
    return resolved
  }

  return {
    async docker(args: string[], options?: { timeoutMs?: number }): Promise<ExecResult> {
      return run((await commands()).docker, args, options)
    },
    /** `<compose> -p <project> -f <file>… <args>` */
    async compose(project: string, files: string[], args: string[], options?: { timeoutMs?: number; cwd?: string }): Promise<ExecResult> {
      const { compose } = await commands()
      const fileArgs = files.flatMap((f) => ['-f', f])
      return run(compose[0]!, [...compose.slice(1), '-p', project, ...fileArgs, ...args], options)
    },
    /** A long-running docker command whose output is read as it comes (`docker logs -f`); the caller ends it. */
    async spawn(args: string[]) {
      // Wrapped: the subprocess is a promise itself, and returning it bare would wait for its end.
      return { child: execa((await commands()).docker, args, { reject: false, stdin: 'ignore', buffer: false, cleanup: true, env }) }
    },
    async describe(): Promise<string> {
      const { docker, compose } = await commands()
      return `docker=${docker} compose=${compose.join(' ')}`
    },
    /** Reads (container and image descriptions) through dockerd's Engine API, without a process each. */
    api,
    run,
  }
}

export type DockerCli = ReturnType<typeof createDockerCli>
