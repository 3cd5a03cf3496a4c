import path from 'node:path'

/** The transports a remote may use. http and file only when the config allows insecure transports (tests). */
export type RemoteKind = 'https' | 'ssh' | 'http' | 'file'

export interface ParsedRemote {
  kind: RemoteKind
  /** Host name (no port), for messages and browse links; empty for file. */
  host: string
}

const scpLike = /^([A-Za-z0-9._-]+)@([A-Za-z0-9.-]+):(?!\/\/)(\S+)$/

/**
 * What kind of remote a repository URL is, or why it is not one. URLs with a
 * password or token in them are refused: the token has its own field, sealed
 * at rest, and a URL is shown to every viewer.
 */
export function parseRemote(url: string): ParsedRemote | string {
  if (url.startsWith('-')) return 'must not start with "-"'
  if (/[\s\0]/.test(url)) return 'must not contain spaces or control characters'
  const scp = scpLike.exec(url)
  if (scp) return { kind: 'ssh', host: scp[2]!.toLowerCase() }
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return 'must be a git remote: https://host/path, ssh://user@host/path or user@host:path'
  }
  const kind = parsed.protocol.slice(0, -1)
  if (kind !== 'https' && kind !== 'ssh' && kind !== 'http' && kind !== 'file') return `the ${kind}: transport is not supported; use https:// or ssh://`
  if (parsed.password) return 'must not carry a password or token; put a token in git_token instead'
  if (kind === 'https' || kind === 'http') {
    if (parsed.username) return 'must not carry a user name; put it in git_username instead'
    if (parsed.search || parsed.hash) return 'must not have a query or fragment'
  }
  if (kind !== 'file' && (!parsed.hostname || parsed.hostname.startsWith('-'))) return 'must name a host'
  return { kind, host: parsed.hostname.toLowerCase() }
}

/**
 * A path inside the repository, normalised, or why it is not one: relative,
 * no `..`, no `.git` component, printable. Symlinks are resolved later,
 * against the fetched tree (git-tree-reader.ts).
 */
export function checkRepoPath(input: string): { path?: string; error?: string } {
  if (!input || input.length > 1024) return { error: 'must be 1 to 1024 characters' }
  if (/[\0-\x1f\x7f]/.test(input)) return { error: 'must not contain control characters' }
  if (input.startsWith('/')) return { error: 'must be relative to the repository root' }
  if (input.includes('\\')) return { error: 'must use / between folders' }
  const parts = input.split('/')
  if (parts.includes('..')) return { error: 'must not contain ".." (path traversal)' }
  if (parts.some((p) => p.toLowerCase() === '.git')) return { error: 'must not point into .git' }
  const normalised = path.posix.normalize(input).replace(/\/+$/, '')
  if (!normalised || normalised === '.' || normalised.startsWith('-')) return { error: 'must name a file' }
  return { path: normalised }
}

/** The branch or tag to fetch: a name git accepts as a ref (checked again by git itself). */
export function checkRef(ref: string): string | undefined {
  if (!ref || ref.length > 255) return 'must be 1 to 255 characters'
  if (ref.startsWith('-')) return 'must not start with "-"'
  // git check-ref-format's rules, short of the ones git enforces itself.
  if (/[\0-\x20\x7f~^:?*[\\]|\.\.|@\{|\/\/|^\/|\/$|\.lock(\/|$)|\.$|^@$/.test(ref)) return 'is not a valid branch or tag name'
  return undefined
}

/**
 * A web link to a commit, for hosts that follow GitHub's or GitLab's URL
 * layout (GitHub, GitLab, Gitea, Forgejo, Codeberg). Undefined when no link
 * can be derived; the console then shows the SHA alone.
 */
export function commitBrowseUrl(repoUrl: string | null, sha: string | null): string | undefined {
  if (!repoUrl || !sha || !/^[0-9a-f]{40,64}$/.test(sha)) return undefined
  let base: string | undefined
  const scp = scpLike.exec(repoUrl)
  if (scp) base = `https://${scp[2]}/${scp[3]}`
  else {
    try {
      const u = new URL(repoUrl)
      if (u.protocol === 'https:' || u.protocol === 'http:') base = `${u.protocol}//${u.host}${u.pathname}`
      else if (u.protocol === 'ssh:') base = `https://${u.hostname}${u.pathname}`
    } catch {
      return undefined
    }
  }
  if (!base) return undefined
  base = base.replace(/\.git\/?$/, '').replace(/\/+$/, '')
  const host = new URL(base).hostname
  // Over ssh the web host is only guessable for the well-known forges.
  if (!repoUrl.startsWith('http') && !/github|gitlab|gitea|forgejo|codeberg/.test(host)) return undefined
  return /gitlab/.test(host) ? `${base}/-/commit/${sha}` : `${base}/commit/${sha}`
}
