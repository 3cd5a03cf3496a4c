import { execa } from 'execa'

/** Limits of every git process the gateway runs. */
export interface GitLimits {
  /** Wall time of one git command (a fetch included), in ms. */
  timeoutMs: number
  /** Largest file any git process may write (RLIMIT_FSIZE): bounds the fetched pack. */
  maxWriteBytes: number
}

export interface GitResult {
  stdout: string
  stderr: string
  exitCode: number | undefined
  timedOut: boolean
  /** The write limit was hit (SIGXFSZ somewhere in git's process tree, or git saying so). */
  tooLarge: boolean
}

/** Config pairs passed through GIT_CONFIG_* (never argv, which `ps` shows to every user of the host). */
export type GitConfigPairs = [key: string, value: string][]

/**
 * Settings every run gets, whatever the repository's config says: no hooks, no
 * redirects to other hosts, objects checked as they arrive (git's fsck refuses
 * `.git` path tricks and malformed trees), no lazy fetches and no pathspec magic.
 */
const HARDENING: GitConfigPairs = [
  ['core.hooksPath', '/dev/null'],
  ['http.followRedirects', 'false'],
  ['transfer.fsckObjects', 'true'],
  ['fetch.fsckObjects', 'true'],
  ['protocol.version', '2'],
  ['core.askPass', '/bin/false'],
  ['credential.helper', ''],
  ['submodule.recurse', 'false'],
]

/**
 * Runs Debian's git with a clean environment: no system or user config (HOME
 * is a private temp dir), no terminal prompt, transports limited to
 * `allowProtocols`, a file-size rlimit (through util-linux `prlimit`) and a
 * wall-time limit that kills git's whole process group (remote helpers and
 * ssh included). Never throws for a failed command: the caller reads the result.
 */
export async function runGit(
  args: string[],
  options: { cwd: string; home: string; limits: GitLimits; allowProtocols: string[]; config?: GitConfigPairs; env?: Record<string, string> },
): Promise<GitResult> {
  const config = [...HARDENING, ...(options.config ?? [])]
  const env: Record<string, string> = {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: options.home,
    // Untranslated messages, which the sync status shows and the tests read.
    LC_ALL: 'C.UTF-8',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: '/bin/false',
    SSH_ASKPASS: '/bin/false',
    GIT_ALLOW_PROTOCOL: options.allowProtocols.join(':'),
    GIT_PROTOCOL_FROM_USER: '0',
    GIT_LITERAL_PATHSPECS: '1',
    GIT_NO_LAZY_FETCH: '1',
    GIT_CONFIG_COUNT: String(config.length),
    ...options.env,
  }
  config.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key
    env[`GIT_CONFIG_VALUE_${i}`] = value
  })
  const child = execa('prlimit', [`--fsize=${options.limits.maxWriteBytes}`, '--', 'git', ...args], {
    cwd: options.cwd,
    env,
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    // Its own process group, so a timeout ends git's children (remote helpers, ssh, index-pack) too.
    detached: true,
    maxBuffer: 4 * 1024 * 1024,
    encoding: 'utf8',
    // Blob text is returned byte for byte: a compose file keeps its final newline.
    stripFinalNewline: false,
  })
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL')
    } catch {
      // Already gone.
    }
  }, options.limits.timeoutMs)
  const result = await child.finally(() => clearTimeout(timer))
  const stderr = String(result.stderr ?? '')
  const tooLarge = result.signal === 'SIGXFSZ' || /File size limit exceeded|SIGXFSZ|signal 25\b/i.test(stderr)
  return { stdout: String(result.stdout ?? ''), stderr, exitCode: result.exitCode, timedOut, tooLarge }
}

/**
 * The last lines of git's error output, for a sync status an admin reads.
 * Anything URL-shaped loses its userinfo, in case a remote echoes one back.
 */
export function gitErrorSummary(r: GitResult, maxLines = 4): string {
  const lines = r.stderr
    .split('\n')
    .map((l) => l.replace(/\/\/[^/@\s]*@/g, '//').trim())
    .filter((l) => l && !/^(hint|warning):/i.test(l))
  return lines.slice(-maxLines).join('; ').slice(0, 500) || `git exited with code ${r.exitCode ?? 'unknown'}`
}
