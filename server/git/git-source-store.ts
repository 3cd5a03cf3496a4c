import { randomBytes } from 'node:crypto'
import type { Kysely, Selectable } from 'kysely'
import type { Database, GitSourcesTable } from '../db/schema.js'
import type { SecretBox } from '../secrets/secret-box.js'
import { generateEd25519 } from '../../shared/ed25519-keys.js'
import { ValidationError } from '../errors.js'
import { parseRemote } from './git-remote.js'
import type { GitAuth } from './git-fetcher.js'

export type GitSourceRow = Selectable<GitSourcesTable>

/** The git settings a software write may carry (all optional; null clears). */
export interface GitSourceInput {
  compose_path?: string | null
  defaults_path?: string | null
  poll_interval_seconds?: number
  git_username?: string | null
  git_token?: string | null
  webhook_secret?: string | null
  ssh_known_hosts?: string | null
}

/** What a sync records, success or failure. */
export interface SyncOutcome {
  status: 'ok' | 'error'
  error: string | null
  commit?: string
  composeBlob?: string
  defaultsBlob?: string | null
}

/** A token sent with no user name goes as `x-access-token`, which GitHub, GitLab and Gitea all accept for tokens. */
export const DEFAULT_TOKEN_USERNAME = 'x-access-token'

/**
 * The git side of a software: where its files are, its credentials (sealed
 * with the gateway's secret box: HTTPS token, SSH deploy key, webhook secret)
 * and its sync state. Rows exist for git software only.
 */
export function createGitSourceStore(deps: { db: Kysely<Database>; box: SecretBox; minPollSeconds: number }) {
  const { box } = deps

  function checkPoll(seconds: number) {
    if (seconds !== 0 && seconds < deps.minPollSeconds) throw new ValidationError('poll_interval_seconds', `must be 0 (no polling) or at least ${deps.minPollSeconds}`)
  }

  async function get(db: Kysely<Database>, softwareId: string): Promise<GitSourceRow | undefined> {
    return db.selectFrom('git_sources').selectAll().where('software_id', '=', softwareId).executeTakeFirst()
  }

  /**
   * Creates or updates the row of a git software, on the caller's transaction.
   * An SSH remote gets an ed25519 deploy key the first time it needs one; a
   * changed remote forgets the pinned host keys and the imported blobs, so
   * the next sync imports afresh.
   */
  async function save(db: Kysely<Database>, softwareId: string, repoUrl: string, input: GitSourceInput, remoteChanged: boolean): Promise<GitSourceRow> {
    if (input.poll_interval_seconds !== undefined) checkPoll(input.poll_interval_seconds)
    const remote = parseRemote(repoUrl)
    const isSsh = typeof remote !== 'string' && remote.kind === 'ssh'
    if (isSsh && input.git_token) throw new ValidationError('git_token', 'is for https:// remotes; an ssh remote uses the deploy key')
    const current = await get(db, softwareId)
    const values: Partial<Record<keyof GitSourcesTable, unknown>> = {}
    if (input.compose_path !== undefined) values.compose_path = input.compose_path
    if (input.defaults_path !== undefined) values.defaults_path = input.defaults_path
    if (input.git_username !== undefined) values.git_username = input.git_username
    if (input.git_token !== undefined) values.token_sealed = input.git_token === null ? null : box.seal(input.git_token)
    if (input.webhook_secret !== undefined) values.webhook_secret_sealed = input.webhook_secret === null ? null : box.seal(input.webhook_secret)
    if (input.ssh_known_hosts !== undefined) values.ssh_known_hosts = input.ssh_known_hosts
    else if (remoteChanged && current) values.ssh_known_hosts = null
    if (remoteChanged && current) Object.assign(values, { imported_compose_blob: null, imported_defaults_blob: null })
    if (isSsh && !current?.deploy_key_sealed) Object.assign(values, deployKeyValues(softwareId))
    const poll = input.poll_interval_seconds ?? current?.poll_interval_seconds ?? defaultPoll()
    values.poll_interval_seconds = poll
    // A new or changed source is due now; polling off leaves nothing due.
    if (!current || remoteChanged || input.poll_interval_seconds !== undefined) values.next_poll_at = poll > 0 ? new Date() : null
    if (!current) {
      return db.insertInto('git_sources').values({ software_id: softwareId, ...values } as never).returningAll().executeTakeFirstOrThrow()
    }
    return db
      .updateTable('git_sources')
      .set({ ...values, updated_at: new Date() } as never)
      .where('software_id', '=', softwareId)
      .returningAll()
      .executeTakeFirstOrThrow()
  }

  function defaultPoll(): number {
    return Math.max(300, deps.minPollSeconds)
  }

  function deployKeyValues(softwareId: string) {
    const pair = generateEd25519(`edgetainer-deploy-${softwareId.slice(0, 8)}`)
    return { deploy_key_sealed: box.seal(pair.private), deploy_key_public: pair.public.trim() }
  }

  /** A fresh deploy key (the old one stops working once removed from the git host). Returns the public half. */
  async function rotateDeployKey(db: Kysely<Database>, softwareId: string): Promise<string> {
    const values = deployKeyValues(softwareId)
    await db.updateTable('git_sources').set({ ...values, updated_at: new Date() }).where('software_id', '=', softwareId).execute()
    return values.deploy_key_public
  }

  /** A fresh webhook secret, returned once (the API never shows it again). */
  async function rotateWebhookSecret(db: Kysely<Database>, softwareId: string): Promise<string> {
    const secret = randomBytes(24).toString('base64url')
    await db.updateTable('git_sources').set({ webhook_secret_sealed: box.seal(secret), updated_at: new Date() }).where('software_id', '=', softwareId).execute()
    return secret
  }

  function webhookSecret(row: GitSourceRow): string | undefined {
    return row.webhook_secret_sealed ? box.open(row.webhook_secret_sealed) : undefined
  }

  /** The credentials a fetch uses: the deploy key for ssh, the token (if any) for https. */
  function authFor(row: GitSourceRow, repoUrl: string): GitAuth {
    const remote = parseRemote(repoUrl)
    if (typeof remote !== 'string' && remote.kind === 'ssh') {
      if (!row.deploy_key_sealed) return { kind: 'none' }
      return { kind: 'ssh', privateKey: box.open(row.deploy_key_sealed), knownHosts: row.ssh_known_hosts }
    }
    if (row.token_sealed) return { kind: 'token', username: row.git_username ?? DEFAULT_TOKEN_USERNAME, token: box.open(row.token_sealed) }
    return { kind: 'none' }
  }

  async function recordSync(db: Kysely<Database>, row: GitSourceRow, outcome: SyncOutcome, knownHosts?: string | null): Promise<void> {
    const now = new Date()
    const values: Record<string, unknown> = {
      last_sync_at: now,
      last_sync_status: outcome.status,
      last_sync_error: outcome.error?.slice(0, 2000) ?? null,
      next_poll_at: row.poll_interval_seconds > 0 ? new Date(now.getTime() + row.poll_interval_seconds * 1000) : null,
      updated_at: now,
    }
    if (outcome.commit) values.last_commit = outcome.commit
    if (outcome.composeBlob) Object.assign(values, { imported_compose_blob: outcome.composeBlob, imported_defaults_blob: outcome.defaultsBlob ?? null })
    if (knownHosts && !row.ssh_known_hosts) values.ssh_known_hosts = knownHosts
    await db.updateTable('git_sources').set(values).where('software_id', '=', row.software_id).execute()
  }

  /** Git software whose next poll is due, oldest first. */
  async function due(db: Kysely<Database>, now: Date, limit: number): Promise<string[]> {
    const rows = await db.selectFrom('git_sources').select('software_id').where('next_poll_at', '<=', now).orderBy('next_poll_at').limit(limit).execute()
    return rows.map((r) => r.software_id)
  }

  return { get, save, rotateDeployKey, rotateWebhookSecret, webhookSecret, authFor, recordSync, due }
}

export type GitSourceStore = ReturnType<typeof createGitSourceStore>
