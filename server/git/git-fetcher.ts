import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { GitFetchError } from './git-errors.js'
import { gitErrorSummary, runGit, type GitConfigPairs, type GitLimits } from './git-cli.js'
import { parseRemote } from './git-remote.js'
import { parseLsTree, type ObjectSource, type TreeEntry } from './git-tree-reader.js'

export type GitAuth =
  | { kind: 'none' }
  | { kind: 'token'; username: string; token: string }
  | { kind: 'ssh'; privateKey: string; knownHosts: string | null }

export interface GitRemote {
  url: string
  ref: string
  auth: GitAuth
}

export interface CommitInfo {
  sha: string
  author: string
  message: string
}

/** A fetched commit in a private bare repository; `close()` removes it. */
export interface FetchedCommit extends ObjectSource {
  commit: CommitInfo
  /** For SSH remotes: the known_hosts lines in force after the fetch (pinned on first use). */
  knownHosts: string | null
  close(): Promise<void>
}

export interface GitFetcherSettings extends GitLimits {
  /** Lets http:// and file:// remotes through (tests against 127.0.0.1 servers); off in production. */
  allowInsecureTransports: boolean
}

const MAX_MESSAGE = 4000

/**
 * Fetches one ref of one remote, depth 1, into a throwaway bare repository,
 * with Debian's git (git-cli.ts has the clean environment and the limits).
 * SSH uses the software's deploy key from a 0600 temp file, no agent, no user
 * config, and the pinned host keys (StrictHostKeyChecking=yes), or
 * accept-new when none are pinned yet: the caller stores what got pinned.
 */
export function createGitFetcher(settings: GitFetcherSettings) {
  const protocols = settings.allowInsecureTransports ? ['https', 'ssh', 'http', 'file'] : ['https', 'ssh']

  async function fetchCommit(remote: GitRemote): Promise<FetchedCommit> {
    const parsed = parseRemote(remote.url)
    if (typeof parsed === 'string') throw new GitFetchError(`repo_url ${parsed}`)
    if (!protocols.includes(parsed.kind)) throw new GitFetchError(`${parsed.kind}:// remotes are not allowed on this gateway; use https:// or ssh://`)
    const root = await mkdtemp(path.join(tmpdir(), 'edgetainer-git-'))
    const home = path.join(root, 'home')
    const repo = path.join(root, 'repo.git')
    const close = () => rm(root, { recursive: true, force: true })
    try {
      await mkdir(home, { mode: 0o700 })
      const config: GitConfigPairs = []
      const env: Record<string, string> = {}
      const knownHostsFile = path.join(home, 'known_hosts')
      if (remote.auth.kind === 'token') {
        const basic = Buffer.from(`${remote.auth.username}:${remote.auth.token}`).toString('base64')
        config.push(['http.extraHeader', `Authorization: Basic ${basic}`])
      }
      if (remote.auth.kind === 'ssh') {
        const keyFile = path.join(home, 'deploy_key')
        await writeFile(keyFile, remote.auth.privateKey.endsWith('\n') ? remote.auth.privateKey : `${remote.auth.privateKey}\n`, { mode: 0o600 })
        await writeFile(knownHostsFile, remote.auth.knownHosts ?? '', { mode: 0o600 })
        const strict = remote.auth.knownHosts ? 'yes' : 'accept-new'
        env.GIT_SSH_COMMAND = [
          'ssh -F /dev/null',
          `-i ${keyFile}`,
          '-o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes -o PasswordAuthentication=no',
          `-o UserKnownHostsFile=${knownHostsFile} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=${strict}`,
          '-o ProxyCommand=none -o ProxyJump=none -o ForwardAgent=no -o ClearAllForwardings=yes -o PermitLocalCommand=no',
          `-o ConnectTimeout=${Math.max(1, Math.ceil(settings.timeoutMs / 1000))}`,
        ].join(' ')
        env.GIT_SSH_VARIANT = 'ssh'
      }
      // One process: a bare, single-branch clone of depth 1. No working tree is ever written.
      // --branch takes a branch or tag name, so a full refs/heads/ or refs/tags/ ref is shortened.
      const branch = remote.ref.replace(/^refs\/(heads|tags)\//, '')
      const fetched = await runGit(['clone', '--quiet', '--bare', '--depth=1', '--single-branch', '--no-tags', `--branch=${branch}`, '--', remote.url, repo], {
        cwd: root,
        home,
        limits: settings,
        allowProtocols: protocols,
        config,
        env,
      })
      if (fetched.timedOut) throw new GitFetchError(`fetching ${remote.ref} took longer than ${Math.round(settings.timeoutMs / 1000)} s`)
      if (fetched.tooLarge) throw new GitFetchError(`fetching ${remote.ref} exceeded the limit of ${Math.round(settings.maxWriteBytes / 1024 / 1024)} MB`)
      if (fetched.exitCode !== 0) throw new GitFetchError(`git fetch failed: ${gitErrorSummary(fetched)}`)

      const info = await runOk(['-C', repo, 'show', '-s', '--no-show-signature', '--format=%H%x00%an <%ae>%x00%B', 'HEAD^{commit}'], root, home, protocols)
      const [shaOut = '', author = '', message = ''] = info.split('\0')
      const sha = shaOut.trim()
      // Trees are listed one directory at a time, each once: the compose search order costs one git call.
      const dirs = new Map<string, Promise<Map<string, TreeEntry>>>()
      const listDir = (dir: string) => {
        let listing = dirs.get(dir)
        if (!listing) {
          listing = runOk(['-C', repo, 'ls-tree', '-l', '-z', dir ? `${sha}:${dir}` : sha], root, home, protocols).then((out) => {
            const entries = new Map<string, TreeEntry>()
            for (const record of out.split('\0')) {
              const entry = parseLsTree(record)
              if (entry) entries.set(record.slice(record.indexOf('\t') + 1), entry)
            }
            return entries
          })
          dirs.set(dir, listing)
        }
        return listing
      }
      const knownHosts = remote.auth.kind === 'ssh' ? (await readFile(knownHostsFile, 'utf8').catch(() => '')).trim() || null : null

      return {
        commit: { sha, author: author.trim().slice(0, 500), message: message.trim().slice(0, MAX_MESSAGE) },
        knownHosts,
        async entry(treePath: string): Promise<TreeEntry | undefined> {
          const slash = treePath.lastIndexOf('/')
          // The reader walks parents first, so the directory listed here is known to be a tree.
          return (await listDir(slash < 0 ? '' : treePath.slice(0, slash))).get(treePath.slice(slash + 1))
        },
        blob: (oid: string) => runOk(['-C', repo, 'cat-file', 'blob', oid], root, home, protocols),
        close,
      }
    } catch (err) {
      await close()
      throw err
    }
  }

  async function runOk(args: string[], cwd: string, home: string, allowProtocols: string[]): Promise<string> {
    const r = await runGit(args, { cwd, home, limits: settings, allowProtocols })
    if (r.exitCode !== 0 || r.timedOut) throw new GitFetchError(`git ${args[2] ?? args[0]} failed: ${gitErrorSummary(r)}`)
    return r.stdout
  }

  return { fetchCommit }
}

export type GitFetcher = ReturnType<typeof createGitFetcher>
