import { sql, type Kysely, type Selectable, type Transaction } from 'kysely'
import type { Database, SoftwareTable, SoftwareVersionsTable } from '../db/schema.js'
import { ConflictError, DomainError, NotFoundError, ValidationError } from '../errors.js'
import { likePattern } from '../api/validation.js'
import type { EnvCodec, VarChange } from '../env/env-codec.js'
import type { SoftwareEnvInput } from '../env/env-var-schema.js'
import { validateCompose } from './compose-validation.js'
import { asSoftwareEnv, emptySoftwareEnv, sealSoftwareEnv, softwareEnvChanges, type SoftwareEnv } from './software-env.js'
import { inTransaction } from '../db/in-transaction.js'

export type SoftwareRow = Selectable<SoftwareTable>
export type SoftwareVersionRow = Selectable<SoftwareVersionsTable>
export type SoftwareSource = 'manual' | 'git'

export interface SoftwareInput {
  name: string
  description?: string | null
  source?: SoftwareSource
  repo_url?: string | null
  git_ref?: string | null
  docker_compose_yaml?: string
  env_vars?: SoftwareEnvInput
  /** A label for the version this creates; numbered 1, 2, … when absent. */
  version?: string
}

export type SoftwarePatch = Partial<SoftwareInput>

/** The commit a version imported from git came from. */
export interface VersionCommit {
  sha: string
  author: string
  message: string
}

/** What a write did: the software now, and the version it made (none when compose and defaults stayed the same). */
export interface SoftwareWrite {
  software: SoftwareRow
  version?: SoftwareVersionRow
  envChanges: VarChange[]
}

/** The software catalogue. Versions are immutable rows; `current_version` names the newest. */
export function createSoftwareStore(deps: { db: Kysely<Database>; codec: EnvCodec }) {
  const { db, codec } = deps

  async function assertNameFree(tx: Kysely<Database>, name: string, exceptId?: string) {
    let q = tx.selectFrom('software').select('id').where('name', '=', name)
    if (exceptId) q = q.where('id', '<>', exceptId)
    if (await q.executeTakeFirst()) throw new ConflictError(`software named ${name} already exists`, 'SOFTWARE_EXISTS', 'name')
  }

  function checkSource(source: SoftwareSource, repoUrl: string | null | undefined) {
    if (source === 'git' && !repoUrl) throw new ValidationError('repo_url', 'is required when source is git')
  }

  async function latest(tx: Kysely<Database>, softwareId: string): Promise<SoftwareVersionRow | undefined> {
    return tx.selectFrom('software_versions').selectAll().where('software_id', '=', softwareId).orderBy('seq', 'desc').limit(1).executeTakeFirst()
  }

  /** Inserts the next version and points the software at it. The caller holds the software row lock. */
  async function addVersion(tx: Transaction<Database>, softwareId: string, compose: string, env: SoftwareEnv, label: string | undefined, actor: string, commit?: VersionCommit) {
    const last = await latest(tx, softwareId)
    const seq = (last?.seq ?? 0) + 1
    const taken = async (v: string) => Boolean(await tx.selectFrom('software_versions').select('id').where('software_id', '=', softwareId).where('version', '=', v).executeTakeFirst())
    if (label !== undefined && (await taken(label))) throw new ConflictError(`version ${label} already exists`, 'VERSION_EXISTS', 'version')
    let version = label ?? String(seq)
    // A hand-given label may already hold the next number; suffix rather than fail an unlabelled write.
    for (let k = 1; label === undefined && (await taken(version)); k++) version = `${seq}.${k}`
    const row = await tx
      .insertInto('software_versions')
      .values({
        software_id: softwareId,
        seq,
        version,
        docker_compose_yaml: compose,
        env_vars: JSON.stringify(env),
        created_by: actor,
        commit_sha: commit?.sha ?? null,
        commit_author: commit?.author ?? null,
        commit_message: commit?.message ?? null,
      })
      .returningAll()
      .executeTakeFirstOrThrow()
    await tx
      .updateTable('software')
      .set({
        current_version: version,
        docker_compose_yaml: compose,
        versions: sql<string>`coalesce(versions, '[]'::jsonb) || ${JSON.stringify([version])}::jsonb`,
        updated_at: new Date(),
      })
      .where('id', '=', softwareId)
      .execute()
    return row
  }

  async function create(input: SoftwareInput, actor: string): Promise<SoftwareWrite> {
    const source = input.source ?? 'manual'
    checkSource(source, input.repo_url)
    // A git source records where the compose will come from; a manual one has to bring it.
    if (source === 'manual' && input.docker_compose_yaml === undefined) throw new ValidationError('docker_compose_yaml', 'is required for manual software')
    if (input.docker_compose_yaml !== undefined) validateCompose(input.docker_compose_yaml)
    if (input.version !== undefined && input.docker_compose_yaml === undefined) throw new ValidationError('version', 'needs a docker_compose_yaml to label')
    const env = sealSoftwareEnv(codec, input.env_vars ?? { vars: {}, services: {} }, emptySoftwareEnv(), 'env_vars.')
    return inTransaction(db, async (tx) => {
      await assertNameFree(tx, input.name)
      const created = await tx
        .insertInto('software')
        .values({
          name: input.name,
          description: input.description ?? null,
          source,
          repo_url: input.repo_url ?? null,
          git_ref: input.git_ref ?? null,
          current_version: null,
          versions: JSON.stringify([]),
          docker_compose_yaml: null,
        })
        .returning('id')
        .executeTakeFirstOrThrow()
      const version = input.docker_compose_yaml === undefined ? undefined : await addVersion(tx, created.id, input.docker_compose_yaml, env, input.version, actor)
      const software = await tx.selectFrom('software').selectAll().where('id', '=', created.id).executeTakeFirstOrThrow()
      return { software, version, envChanges: softwareEnvChanges(codec, emptySoftwareEnv(), env) }
    })
  }

  async function get(id: string): Promise<SoftwareRow> {
    const software = await db.selectFrom('software').selectAll().where('id', '=', id).executeTakeFirst()
    if (!software) throw new NotFoundError('SOFTWARE_NOT_FOUND', 'software')
    return software
  }

  async function list(q: { limit: number; offset: number; q?: string }) {
    let base = db.selectFrom('software')
    if (q.q) base = base.where('name', 'ilike', likePattern(q.q))
    const [items, count] = await Promise.all([
      base.selectAll().orderBy('name').limit(q.limit).offset(q.offset).execute(),
      base.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
    ])
    return { items, total: Number(count.n) }
  }

  /**
   * Updates metadata, and makes a new version when the compose or the
   * defaults actually change. Everything happens under the software row lock,
   * so two writers cannot both become version N.
   */
  async function update(id: string, patch: SoftwarePatch, actor: string): Promise<SoftwareWrite> {
    if (patch.docker_compose_yaml !== undefined) validateCompose(patch.docker_compose_yaml)
    return inTransaction(db, async (tx) => {
      const current = await tx.selectFrom('software').selectAll().where('id', '=', id).forUpdate().executeTakeFirst()
      if (!current) throw new NotFoundError('SOFTWARE_NOT_FOUND', 'software')
      if (patch.name !== undefined) await assertNameFree(tx, patch.name, id)
      const source = patch.source ?? (current.source as SoftwareSource)
      checkSource(source, patch.repo_url !== undefined ? patch.repo_url : current.repo_url)

      const meta: Record<string, unknown> = {}
      for (const key of ['name', 'description', 'source', 'repo_url', 'git_ref'] as const) if (patch[key] !== undefined) meta[key] = patch[key]
      if (Object.keys(meta).length) await tx.updateTable('software').set({ ...meta, updated_at: new Date() }).where('id', '=', id).execute()

      const last = await latest(tx, id)
      const oldEnv = asSoftwareEnv(last?.env_vars)
      const env = patch.env_vars ? sealSoftwareEnv(codec, patch.env_vars, oldEnv, 'env_vars.') : oldEnv
      const compose = patch.docker_compose_yaml ?? last?.docker_compose_yaml
      const envChanges = softwareEnvChanges(codec, oldEnv, env)
      let version: SoftwareVersionRow | undefined
      if (compose === undefined) {
        if (patch.env_vars || patch.version !== undefined) throw new ValidationError('docker_compose_yaml', 'this software has no compose yet: give one with its first defaults or version')
      } else if (compose !== last?.docker_compose_yaml || envChanges.length || patch.version !== undefined) {
        version = await addVersion(tx, id, compose, env, patch.version, actor)
      }
      const software = await tx.selectFrom('software').selectAll().where('id', '=', id).executeTakeFirstOrThrow()
      return { software, version, envChanges }
    })
  }

  /** Refuses while deployments use the software: removing it would silently stop it on devices. */
  async function remove(id: string): Promise<SoftwareRow> {
    const software = await get(id)
    const used = await db.selectFrom('deployments').select((eb) => eb.fn.countAll<string>().as('n')).where('software_id', '=', id).executeTakeFirstOrThrow()
    if (Number(used.n) > 0) throw new ConflictError(`software ${software.name} has ${used.n} deployment(s); delete them first`, 'SOFTWARE_DEPLOYED')
    await db.deleteFrom('software').where('id', '=', id).execute()
    return software
  }

  async function versions(id: string): Promise<SoftwareVersionRow[]> {
    await get(id)
    return db.selectFrom('software_versions').selectAll().where('software_id', '=', id).orderBy('seq', 'desc').execute()
  }

  async function version(id: string, label: string): Promise<SoftwareVersionRow> {
    const row = await db.selectFrom('software_versions').selectAll().where('software_id', '=', id).where('version', '=', label).executeTakeFirst()
    if (!row) {
      await get(id)
      throw new DomainError('VERSION_NOT_FOUND', `software has no version ${label}`)
    }
    return row
  }

  /** The version a software currently points at (none for a git source not imported yet). */
  async function currentVersion(software: SoftwareRow): Promise<SoftwareVersionRow | undefined> {
    if (software.current_version === null) return undefined
    return version(software.id, software.current_version)
  }

  /**
   * A version imported from git: the compose and defaults of one commit,
   * under the software row lock like every other write. `build` sees the
   * newest version, so what a console user set (secrets) can carry over.
   */
  async function importVersion(
    id: string,
    commit: VersionCommit,
    build: (latest: SoftwareVersionRow | undefined) => { compose: string; env: SoftwareEnv },
    actor: string,
  ): Promise<SoftwareVersionRow> {
    return inTransaction(db, async (tx) => {
      const current = await tx.selectFrom('software').select('id').where('id', '=', id).forUpdate().executeTakeFirst()
      if (!current) throw new NotFoundError('SOFTWARE_NOT_FOUND', 'software')
      const { compose, env } = build(await latest(tx, id))
      return addVersion(tx, id, compose, env, undefined, actor, commit)
    })
  }

  return { create, get, list, update, remove, versions, version, currentVersion, importVersion }
}

export type SoftwareStore = ReturnType<typeof createSoftwareStore>
