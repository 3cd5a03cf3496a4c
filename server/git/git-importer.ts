import { parseEnv } from 'node:util'
import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.js'
import { DomainError } from '../errors.js'
import type { EnvCodec, StoredVarSet } from '../env/env-codec.js'
import { envVarSet } from '../env/env-var-schema.js'
import type { Logger } from '../logger.js'
import { MAX_COMPOSE_BYTES, validateCompose } from '../software/compose-validation.js'
import { asSoftwareEnv, type SoftwareEnv } from '../software/software-env.js'
import { createSoftwareStore, type SoftwareVersionRow } from '../software/software-store.js'
import { GitImportError } from './git-errors.js'
import type { FetchedCommit, GitFetcher } from './git-fetcher.js'
import type { GitSourceStore } from './git-source-store.js'
import { readRepoFile, type RepoFile } from './git-tree-reader.js'

/** Where a compose file is looked for when the software names none, in this order (docker compose's own). */
export const COMPOSE_SEARCH_ORDER = ['compose.yaml', 'compose.yml', 'docker-compose.yml', 'docker-compose.yaml']
/** The defaults file read when the software names none, if the repository has it. */
export const DEFAULT_DEFAULTS_PATH = '.edgetainer/defaults.env'

export type SyncTrigger = 'manual' | 'poll' | 'webhook'

export interface SyncResult {
  status: 'imported' | 'unchanged'
  commit: { sha: string; author: string; message: string }
  compose_path: string
  defaults_path: string | null
  /** The version made, when the compose or defaults file changed. */
  version: string | null
}

/**
 * Imports a git software's compose (and defaults) file from its ref. One
 * sync per software at a time: a sync asked for while one runs starts when it
 * ends (a push during a fetch is never missed). Every outcome, error
 * included, is recorded on the software's git source for the console.
 */
export function createGitImporter(deps: { db: Kysely<Database>; codec: EnvCodec; fetcher: GitFetcher; sources: GitSourceStore; maxFileBytes: number; logger: Logger }) {
  const { db, codec, sources, logger } = deps
  const software = createSoftwareStore({ db, codec })
  const chains = new Map<string, Promise<unknown>>()

  function sync(softwareId: string, trigger: SyncTrigger, actor: string): Promise<SyncResult> {
    const previous = chains.get(softwareId) ?? Promise.resolve()
    const next = previous.catch(() => undefined).then(() => run(softwareId, trigger, actor))
    chains.set(softwareId, next)
    void next.catch(() => undefined).finally(() => {
      if (chains.get(softwareId) === next) chains.delete(softwareId)
    })
    return next
  }

  function isRunning(softwareId: string): boolean {
    return chains.has(softwareId)
  }

  async function run(softwareId: string, trigger: SyncTrigger, actor: string): Promise<SyncResult> {
    const sw = await software.get(softwareId)
    const source = await sources.get(db, softwareId)
    if (sw.source !== 'git' || !source || !sw.repo_url) throw new DomainError('NOT_A_GIT_SOURCE', `software ${sw.name} has no git source to sync`)
    let fetched: FetchedCommit | undefined
    try {
      fetched = await deps.fetcher.fetchCommit({ url: sw.repo_url, ref: sw.git_ref ?? 'main', auth: sources.authFor(source, sw.repo_url) })
      const commit = fetched.commit
      const compose = await readCompose(fetched, source.compose_path)
      const defaults = await readDefaults(fetched, source.defaults_path)
      const summary = validateComposeFrom(compose)
      const vars = defaults ? parseDefaults(defaults) : {}
      const unchanged = source.imported_compose_blob === compose.oid && source.imported_defaults_blob === (defaults?.oid ?? null)
      let version: SoftwareVersionRow | undefined
      if (!unchanged) {
        version = await software.importVersion(softwareId, commit, (latest) => ({ compose: compose.text, env: importedEnv(latest, vars) }), actor)
      }
      await sources.recordSync(db, source, { status: 'ok', error: null, commit: commit.sha, composeBlob: compose.oid, defaultsBlob: defaults?.oid ?? null }, fetched.knownHosts)
      logger.info({ software_id: softwareId, trigger, commit: commit.sha, version: version?.version ?? null, services: summary.length }, version ? 'git sync imported a version' : 'git sync: nothing changed')
      return { status: version ? 'imported' : 'unchanged', commit, compose_path: compose.path, defaults_path: defaults?.path ?? null, version: version?.version ?? null }
    } catch (err) {
      const known = err instanceof DomainError
      const message = known ? err.message : 'internal error during sync (see the gateway log)'
      if (!known) logger.error({ err, software_id: softwareId }, 'git sync failed unexpectedly')
      else logger.warn({ software_id: softwareId, trigger, code: err.code, error: err.message }, 'git sync failed')
      await sources.recordSync(db, source, { status: 'error', error: message, commit: fetched?.commit.sha }).catch((e: Error) => logger.warn({ err: e.message }, 'cannot record a git sync result'))
      throw err
    } finally {
      await fetched?.close()
    }
  }

  async function readCompose(repo: FetchedCommit, configured: string | null): Promise<RepoFile> {
    const limit = Math.min(deps.maxFileBytes, MAX_COMPOSE_BYTES)
    if (configured) {
      const file = await readRepoFile(repo, configured, limit)
      if (!file) throw new GitImportError(`no compose file at ${configured} in commit ${repo.commit.sha.slice(0, 12)}`)
      return file
    }
    for (const candidate of COMPOSE_SEARCH_ORDER) {
      const file = await readRepoFile(repo, candidate, limit)
      if (file) return file
    }
    throw new GitImportError(`no compose file in commit ${repo.commit.sha.slice(0, 12)}: looked for ${COMPOSE_SEARCH_ORDER.join(', ')} at the repository root`)
  }

  async function readDefaults(repo: FetchedCommit, configured: string | null): Promise<RepoFile | undefined> {
    const file = await readRepoFile(repo, configured ?? DEFAULT_DEFAULTS_PATH, deps.maxFileBytes)
    if (!file && configured) throw new GitImportError(`no defaults file at ${configured} in commit ${repo.commit.sha.slice(0, 12)}`)
    return file
  }

  return { sync, isRunning }
}

function validateComposeFrom(file: RepoFile): string[] {
  try {
    return validateCompose(file.text, file.path).services
  } catch (err) {
    if (err instanceof DomainError) throw new GitImportError(`${file.path} is not a usable compose file: ${err.message}`)
    throw err
  }
}

/** The defaults file, dotenv as Node parses it (`NAME=value`, quotes, `#` comments, `export` prefixes). */
function parseDefaults(file: RepoFile): StoredVarSet {
  const raw = parseEnv(file.text)
  const parsed = envVarSet.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new GitImportError(`${file.path}: ${issue.path.map(String).join('.') || 'file'}: ${issue.message}`)
  }
  return Object.fromEntries(Object.entries(parsed.data).map(([name, v]) => [name, { value: v.value, secret: false, description: null }]))
}

/**
 * A git version's defaults: the file's variables for every service. What
 * the console set and git cannot hold carries over from the newest version:
 * secrets the file does not name, and per-service defaults.
 */
function importedEnv(latest: SoftwareVersionRow | undefined, vars: StoredVarSet): SoftwareEnv {
  const before = asSoftwareEnv(latest?.env_vars)
  const kept = Object.fromEntries(Object.entries(before.vars).filter(([name, v]) => v.secret && !(name in vars)))
  return { vars: { ...kept, ...vars }, services: before.services }
}

export type GitImporter = ReturnType<typeof createGitImporter>
