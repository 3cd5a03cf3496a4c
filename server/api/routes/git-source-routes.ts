import express, { type Request, type Response } from 'express'
import type { Kysely } from 'kysely'
import type { AuditLog } from '../../audit/audit-log.js'
import type { Database } from '../../db/schema.js'
import { DomainError } from '../../errors.js'
import type { GitImporter } from '../../git/git-importer.js'
import type { GitSourceStore } from '../../git/git-source-store.js'
import { pushedRef, refMatches, verifyWebhook } from '../../git/webhook-signatures.js'
import type { Logger } from '../../logger.js'
import type { SoftwareStore } from '../../software/software-store.js'
import type { RouteRegistry } from '../route-registry.js'
import { isUuid, uuidParam } from '../validation.js'
import { RAW_BODY, type WithRawBody } from '../../http/raw-body.js'


const WEBHOOK_BODY_LIMIT = '1mb'
const readRaw = express.raw({ type: () => true, limit: WEBHOOK_BODY_LIMIT })

/** The body's bytes: kept by the JSON parser, or read now for other types (GitHub's form-encoded deliveries). */
async function rawBody(req: Request & WithRawBody, res: Response): Promise<Buffer> {
  if (req[RAW_BODY]) return req[RAW_BODY]
  if (!req.readable) return Buffer.alloc(0)
  await new Promise<void>((resolve, reject) => readRaw(req, res, (err?: unknown) => (err ? reject(err) : resolve())))
  return Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)
}

function refused(): DomainError {
  return new DomainError('WEBHOOK_SIGNATURE_INVALID', 'webhook signature or token missing or invalid')
}

export function registerGitSourceRoutes(
  api: RouteRegistry,
  deps: { db: Kysely<Database>; software: SoftwareStore; sources: GitSourceStore; importer: GitImporter; auditLog: AuditLog; logger: Logger },
) {
  const { db, sources, importer, logger } = deps

  async function gitSoftware(id: string | undefined) {
    const sw = await deps.software.get(uuidParam(id, 'SOFTWARE_NOT_FOUND', 'software'))
    const source = sw.source === 'git' ? await sources.get(db, sw.id) : undefined
    if (!source) throw new DomainError('NOT_A_GIT_SOURCE', `software ${sw.name} is not imported from git`)
    return { sw, source }
  }

  api.route({
    method: 'post',
    path: '/api/software/:id/sync',
    summary: 'Import the compose (and defaults) file from the git ref now; a changed file makes a new version. 422 when the repository content is refused, 502 when the remote cannot be fetched',
    tag: 'software',
    access: 'operator',
    async handler({ params, user, audit }) {
      const { sw } = await gitSoftware(params.id)
      const result = await importer.sync(sw.id, 'manual', user.username)
      await audit('software.sync', 'software', sw.id, { name: sw.name, commit: result.commit.sha, version: result.version })
      return result
    },
  })

  api.route({
    method: 'post',
    path: '/api/software/:id/webhook-secret',
    summary: 'Generate a new webhook secret for the git software; it is shown in this answer only',
    tag: 'software',
    access: 'admin',
    async handler({ params, transaction }) {
      const { sw } = await gitSoftware(params.id)
      const secret = await transaction(async (trx, audit) => {
        const s = await sources.rotateWebhookSecret(trx, sw.id)
        await audit('software.webhook_secret', 'software', sw.id, { name: sw.name })
        return s
      })
      return { webhook_secret: secret, webhook_url: `/api/webhooks/git/${sw.id}` }
    },
  })

  api.route({
    method: 'post',
    path: '/api/software/:id/deploy-key',
    summary: 'Generate a new SSH deploy key for the git software; add its public half to the repository as a read-only deploy key',
    tag: 'software',
    access: 'admin',
    async handler({ params, transaction }) {
      const { sw } = await gitSoftware(params.id)
      const publicKey = await transaction(async (trx, audit) => {
        const key = await sources.rotateDeployKey(trx, sw.id)
        await audit('software.deploy_key', 'software', sw.id, { name: sw.name })
        return key
      })
      return { deploy_key_public: publicKey }
    },
  })

  // Unauthenticated by session, authenticated by the delivery's signature: every refusal is the same 401.
  api.publicRoute({
    method: 'post',
    path: '/api/webhooks/git/:software_id',
    summary: 'Webhook for git pushes (GitHub X-Hub-Signature-256, GitLab X-Gitlab-Token, Gitea/Forgejo X-Gitea-Signature / X-Forgejo-Signature); starts a sync and answers 202',
    tag: 'software',
    access: 'public',
    status: 202,
    async handler({ req, res, params }) {
      const body = await rawBody(req as Request & WithRawBody, res)
      const id = params.software_id
      if (!id || !isUuid(id)) throw refused()
      const sw = await deps.software.get(id.toLowerCase()).catch(() => undefined)
      const source = sw?.source === 'git' ? await sources.get(db, sw.id) : undefined
      const secret = source ? sources.webhookSecret(source) : undefined
      const provider = secret ? verifyWebhook(req.headers, body, secret) : undefined
      if (!sw || !provider) throw refused()
      const ref = pushedRef(body, req.get('content-type'))
      const configured = sw.git_ref ?? 'main'
      if (ref !== undefined && !refMatches(ref, configured)) return { accepted: false, reason: `push to ${ref.slice(0, 200)}, not ${configured}` }
      void importer.sync(sw.id, 'webhook', `webhook:${provider}`).then(
        (result) =>
          deps.auditLog
            .record({ actorUserId: null, actor: `webhook:${provider}`, action: 'software.sync', targetType: 'software', targetId: sw.id, details: { name: sw.name, commit: result.commit.sha, version: result.version }, ip: req.ip ?? null })
            .catch((err: Error) => logger.warn({ err: err.message }, 'cannot audit a webhook sync')),
        // Recorded on the git source and logged by the importer.
        () => undefined,
      )
      return { accepted: true, provider }
    },
  })
}
