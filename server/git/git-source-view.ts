import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.js'
import { ValidationError } from '../errors.js'
import type { SoftwareRow } from '../software/software-store.js'
import { checkRef, commitBrowseUrl, parseRemote } from './git-remote.js'
import type { GitSourceInput, GitSourceRow, GitSourceStore } from './git-source-store.js'
import { COMPOSE_SEARCH_ORDER, DEFAULT_DEFAULTS_PATH } from './git-importer.js'

const GIT_FIELDS = ['compose_path', 'defaults_path', 'poll_interval_seconds', 'git_username', 'git_token', 'webhook_secret', 'ssh_known_hosts'] as const

/**
 * The software routes' git side: after a create or update (on the route's
 * transaction), keeps the software's git source in step with its fields; and
 * the `git` object of the software's detail. Secrets are write-only.
 */
export function createGitSourceWrites(deps: { sources: GitSourceStore; allowInsecureTransports: boolean; publicUrl: () => string; isSyncing: (id: string) => boolean }) {
  const { sources } = deps

  async function apply(trx: Kysely<Database>, software: SoftwareRow, body: Partial<Record<string, unknown>>, previous?: SoftwareRow): Promise<void> {
    const given = GIT_FIELDS.filter((k) => body[k] !== undefined)
    if (software.source !== 'git') {
      if (given.length) throw new ValidationError(given[0]!, 'applies to git software only (source: git)')
      if (previous?.source === 'git') await trx.deleteFrom('git_sources').where('software_id', '=', software.id).execute()
      return
    }
    const url = software.repo_url ?? ''
    const remote = parseRemote(url)
    if (typeof remote === 'string') throw new ValidationError('repo_url', remote)
    if ((remote.kind === 'http' || remote.kind === 'file') && !deps.allowInsecureTransports) {
      throw new ValidationError('repo_url', `${remote.kind}:// remotes are not allowed on this gateway; use https:// or ssh://`)
    }
    const refError = software.git_ref ? checkRef(software.git_ref) : undefined
    if (refError) throw new ValidationError('git_ref', refError)
    const remoteChanged = previous !== undefined && (previous.repo_url !== software.repo_url || previous.git_ref !== software.git_ref)
    await sources.save(trx, software.id, url, body as GitSourceInput, remoteChanged)
  }

  function view(software: SoftwareRow, row: GitSourceRow | undefined) {
    if (software.source !== 'git' || !row) return null
    const remote = parseRemote(software.repo_url ?? '')
    const ssh = typeof remote !== 'string' && remote.kind === 'ssh'
    return {
      repo_url: software.repo_url,
      ref: software.git_ref ?? 'main',
      compose_path: row.compose_path,
      compose_search_order: COMPOSE_SEARCH_ORDER,
      defaults_path: row.defaults_path,
      default_defaults_path: DEFAULT_DEFAULTS_PATH,
      poll_interval_seconds: row.poll_interval_seconds,
      auth: ssh ? 'deploy_key' : row.token_sealed ? 'token' : 'none',
      git_username: row.git_username,
      has_token: Boolean(row.token_sealed),
      deploy_key_public: ssh ? row.deploy_key_public : null,
      ssh_known_hosts: ssh ? row.ssh_known_hosts : null,
      webhook_url: `${deps.publicUrl()}/api/webhooks/git/${software.id}`,
      has_webhook_secret: Boolean(row.webhook_secret_sealed),
      last_sync_at: row.last_sync_at,
      last_sync_status: row.last_sync_status,
      last_sync_error: row.last_sync_error,
      last_commit: row.last_commit,
      last_commit_url: commitBrowseUrl(software.repo_url, row.last_commit) ?? null,
      next_poll_at: row.next_poll_at,
      syncing: deps.isSyncing(software.id),
    }
  }

  return { apply, view }
}

export type GitSourceWrites = ReturnType<typeof createGitSourceWrites>
