import type { EnvCodec } from '../../env/env-codec.js'
import { softwareEnvBody } from '../../env/env-var-schema.js'
import { ValidationError } from '../../errors.js'
import { createComposeUpload } from '../../software/compose-upload.js'
import { validateCompose } from '../../software/compose-validation.js'
import { createSoftwareBody, softwareListQuery, updateSoftwareBody, uploadFields } from '../../software/software-schema.js'
import { diffVersions } from '../../software/software-diff.js'
import { createSoftwareStore, type SoftwareStore, type SoftwareWrite } from '../../software/software-store.js'
import { softwareDetail, softwareEnvView, softwareSummary, versionDetail, versionSummary } from '../../software/software-view.js'
import type { RouteRegistry } from '../route-registry.js'
import type { GitSourceWrites } from '../../git/git-source-view.js'
import type { GitSourceRow } from '../../git/git-source-store.js'
import { page, parseInput, uuidParam } from '../validation.js'

/** Audit details for a write: what changed, never a secret value (env changes carry names only for secrets). */
function writeDetails(write: SoftwareWrite, extra: Record<string, unknown> = {}) {
  return { name: write.software.name, ...extra, version: write.version?.version ?? null, env_changes: write.envChanges }
}

/** The git side of software writes and views (server/git/); absent, git software is only recorded. */
export interface SoftwareGitDeps {
  writes: GitSourceWrites
  sourceOf(softwareId: string): Promise<GitSourceRow | undefined>
}

export function registerSoftwareRoutes(api: RouteRegistry, deps: { software: SoftwareStore; codec: EnvCodec; git?: SoftwareGitDeps }) {
  const { software, codec, git } = deps
  const readUpload = createComposeUpload()

  async function detail(id: string) {
    const row = await software.get(id)
    const base = softwareDetail(codec, row, await software.currentVersion(row))
    return git ? { ...base, git: git.writes.view(row, await git.sourceOf(id)) } : base
  }

  api.route({
    method: 'get',
    path: '/api/software',
    summary: 'List software; search by name with q',
    tag: 'software',
    access: 'viewer',
    query: softwareListQuery,
    async handler({ query }) {
      const { items, total } = await software.list(query)
      return page(items.map(softwareSummary), total, query)
    },
  })

  api.route({
    method: 'post',
    path: '/api/software',
    summary: 'Create software from a compose file (manual) or a git remote and ref (git); the compose becomes version 1',
    tag: 'software',
    access: 'admin',
    status: 201,
    body: createSoftwareBody,
    async handler({ body, user, transaction }) {
      const write = await transaction(async (trx, audit) => {
        const w = await createSoftwareStore({ db: trx, codec }).create(body, user.username)
        await git?.writes.apply(trx, w.software, body)
        await audit('software.create', 'software', w.software.id, writeDetails(w, { source: w.software.source }))
        return w
      })
      return detail(write.software.id)
    },
  })

  api.route({
    method: 'post',
    path: '/api/software/upload',
    summary:
      'Upload a compose file as multipart/form-data (field "file"). With software_id it becomes a new version of that software; otherwise it creates software named by the "name" field',
    tag: 'software',
    access: 'admin',
    status: 201,
    async handler({ req, res, user, transaction }) {
      const upload = await readUpload(req, res)
      const fields = parseInput(uploadFields, upload.fields)
      validateCompose(upload.text, 'file')
      const softwareId = fields.software_id
      if (softwareId) {
        const write = await transaction(async (trx, audit) => {
          const w = await createSoftwareStore({ db: trx, codec }).update(softwareId, { docker_compose_yaml: upload.text, version: fields.version, description: fields.description }, user.username)
          await audit('software.upload', 'software', w.software.id, writeDetails(w, { filename: upload.filename }))
          return w
        })
        return detail(write.software.id)
      }
      const name = fields.name
      if (!name) throw new ValidationError('name', 'is required, unless software_id names the software this file is a new version of')
      const write = await transaction(async (trx, audit) => {
        const w = await createSoftwareStore({ db: trx, codec }).create({ name, description: fields.description, docker_compose_yaml: upload.text, version: fields.version }, user.username)
        await audit('software.create', 'software', w.software.id, writeDetails(w, { source: 'manual', filename: upload.filename }))
        return w
      })
      return detail(write.software.id)
    },
  })

  api.route({
    method: 'get',
    path: '/api/software/:id',
    summary: 'Get software with its current compose, services and default variables (secrets masked)',
    tag: 'software',
    access: 'viewer',
    async handler({ params }) {
      return detail(uuidParam(params.id, 'SOFTWARE_NOT_FOUND', 'software'))
    },
  })

  api.route({
    method: 'put',
    path: '/api/software/:id',
    summary: 'Update software; a changed compose or default env makes a new version',
    tag: 'software',
    access: 'admin',
    body: updateSoftwareBody,
    async handler({ params, body, user, transaction }) {
      const write = await transaction(async (trx, audit) => {
        const store = createSoftwareStore({ db: trx, codec })
        const id = uuidParam(params.id, 'SOFTWARE_NOT_FOUND', 'software')
        const before = git ? await store.get(id) : undefined
        const w = await store.update(id, body, user.username)
        await git?.writes.apply(trx, w.software, body, before)
        // Field names only: git_token and webhook_secret values never reach the audit log.
        await audit('software.update', 'software', w.software.id, writeDetails(w, { fields: Object.keys(body) }))
        return w
      })
      return detail(write.software.id)
    },
  })

  api.route({
    method: 'delete',
    path: '/api/software/:id',
    summary: 'Delete software and its versions; refused while it is deployed',
    tag: 'software',
    access: 'admin',
    status: 204,
    async handler({ params, transaction }) {
      const id = uuidParam(params.id, 'SOFTWARE_NOT_FOUND', 'software')
      await transaction(async (trx, audit) => {
        const removed = await createSoftwareStore({ db: trx, codec }).remove(id)
        await audit('software.delete', 'software', removed.id, { name: removed.name })
      })
      return undefined
    },
  })

  api.route({
    method: 'get',
    path: '/api/software/:id/versions',
    summary: 'List versions, newest first',
    tag: 'software',
    access: 'viewer',
    async handler({ params }) {
      const row = await software.get(uuidParam(params.id, 'SOFTWARE_NOT_FOUND', 'software'))
      const versions = await software.versions(row.id)
      return { items: versions.map((v) => versionSummary(v, row.current_version, row.repo_url)), current_version: row.current_version }
    },
  })

  api.route({
    method: 'get',
    path: '/api/software/:id/versions/:version',
    summary: 'Get one version: its compose and default variables (secrets masked)',
    tag: 'software',
    access: 'viewer',
    async handler({ params }) {
      const row = await software.get(uuidParam(params.id, 'SOFTWARE_NOT_FOUND', 'software'))
      return versionDetail(codec, await software.version(row.id, params.version!), row.current_version, row.repo_url)
    },
  })

  api.route({
    method: 'get',
    path: '/api/software/:id/versions/:a/diff/:b',
    summary: 'Unified diff from version a to version b (compose, then default variables with secrets masked)',
    tag: 'software',
    access: 'viewer',
    async handler({ params }) {
      const id = uuidParam(params.id, 'SOFTWARE_NOT_FOUND', 'software')
      const [a, b] = await Promise.all([software.version(id, params.a!), software.version(id, params.b!)])
      return { software_id: id, from: a.version, to: b.version, diff: diffVersions(codec, a, b) }
    },
  })

  api.route({
    method: 'get',
    path: '/api/software/:id/env-vars',
    summary: 'Default variables of the current version, for all services and per service (secrets masked)',
    tag: 'software',
    access: 'viewer',
    async handler({ params }) {
      const row = await software.get(uuidParam(params.id, 'SOFTWARE_NOT_FOUND', 'software'))
      return { version: row.current_version, ...softwareEnvView(codec, await software.currentVersion(row)) }
    },
  })

  api.route({
    method: 'put',
    path: '/api/software/:id/env-vars',
    summary: 'Replace the default variables (all services and per service); makes a new version. A secret sent as ******** keeps its value',
    tag: 'software',
    access: 'admin',
    body: softwareEnvBody,
    async handler({ params, body, user, transaction }) {
      const write = await transaction(async (trx, audit) => {
        const w = await createSoftwareStore({ db: trx, codec }).update(uuidParam(params.id, 'SOFTWARE_NOT_FOUND', 'software'), { env_vars: body }, user.username)
        await audit('software.env.update', 'software', w.software.id, writeDetails(w))
        return w
      })
      return { version: write.software.current_version, ...softwareEnvView(codec, await software.currentVersion(write.software)) }
    },
  })
}
