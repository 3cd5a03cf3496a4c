import type { EnvCodec, StoredVarSet } from '../env/env-codec.js'
import { commitBrowseUrl } from '../git/git-remote.js'
import { composeServices } from './compose-validation.js'
import { asSoftwareEnv, maskSoftwareEnv } from './software-env.js'
import type { SoftwareRow, SoftwareVersionRow } from './software-store.js'

/** Software defaults as the API shows them: the PUT's own shape, secrets masked. */
export interface SoftwareEnvView {
  vars: StoredVarSet
  services: Record<string, { vars: StoredVarSet }>
}

export function softwareEnvView(codec: EnvCodec, version: SoftwareVersionRow | undefined): SoftwareEnvView {
  const masked = maskSoftwareEnv(codec, asSoftwareEnv(version?.env_vars))
  return { vars: masked.vars, services: Object.fromEntries(Object.entries(masked.services).map(([s, vars]) => [s, { vars }])) }
}

/** The software as lists show it. */
export function softwareSummary(row: SoftwareRow) {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    source: row.source,
    repo_url: row.repo_url,
    git_ref: row.git_ref,
    current_version: row.current_version,
    versions: row.versions ?? [],
    created_at: row.created_at,
    updated_at: row.updated_at,
  }
}

/** One software in full: its current compose, services and masked default variables. */
export function softwareDetail(codec: EnvCodec, row: SoftwareRow, current: SoftwareVersionRow | undefined) {
  return {
    ...softwareSummary(row),
    docker_compose_yaml: current?.docker_compose_yaml ?? null,
    services: current ? composeServices(current.docker_compose_yaml) : [],
    env_vars: softwareEnvView(codec, current),
  }
}

/** A version in lists; one imported from git names its commit, with a web link where the host's layout is known. */
export function versionSummary(row: SoftwareVersionRow, currentVersion: string | null, repoUrl: string | null = null) {
  return {
    version: row.version,
    seq: row.seq,
    current: row.version === currentVersion,
    created_by: row.created_by,
    created_at: row.created_at,
    commit_sha: row.commit_sha,
    commit_author: row.commit_author,
    commit_message: row.commit_message,
    commit_url: commitBrowseUrl(repoUrl, row.commit_sha) ?? null,
  }
}

export function versionDetail(codec: EnvCodec, row: SoftwareVersionRow, currentVersion: string | null, repoUrl: string | null = null) {
  return {
    ...versionSummary(row, currentVersion, repoUrl),
    docker_compose_yaml: row.docker_compose_yaml,
    services: composeServices(row.docker_compose_yaml),
    env_vars: softwareEnvView(codec, row),
  }
}
