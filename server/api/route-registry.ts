import express, { type Request, type Response, type Router } from 'express'
import type { z, ZodType } from 'zod'
import type { AuditLog } from '../audit/audit-log.js'
import type { Authenticator } from '../auth/authenticator.js'
import { roleAllows } from '../auth/roles.js'
import type { AuthenticatedUser } from '../auth/session-tokens.js'
import type { Kysely } from 'kysely'
import { createAuditLog } from '../audit/audit-log.js'
import type { Database, Role } from '../db/schema.js'
import { ForbiddenError, DomainError, UnauthorizedError } from '../errors.js'
import { isJsonMediaType } from '../http/media-type.js'
import { parseInput } from './validation.js'

export type HttpMethod = 'get' | 'post' | 'put' | 'delete'

interface BaseDefinition<B extends ZodType | undefined, Q extends ZodType | undefined> {
  method: HttpMethod
  /** Express path under the API router, e.g. `/api/devices/:id`. */
  path: string
  summary: string
  tag: string
  body?: B
  query?: Q
  /** Status for a returned value; 204 sends no body. */
  status?: number
  /** The handler writes a long-lived stream to `res` itself (Server-Sent Events); shown as `x-streaming` in OpenAPI. */
  streaming?: boolean
}

type Infer<T> = T extends ZodType ? z.output<T> : undefined

export interface PublicContext<B, Q> {
  req: Request
  res: Response
  body: B
  query: Q
  params: Record<string, string>
}

/** Writes an audit row for the caller of a route. */
export type AuditWriter = (action: string, targetType: string, targetId: string | null, details?: Record<string, unknown>) => Promise<void>

export interface UserContext<B, Q> extends PublicContext<B, Q> {
  user: AuthenticatedUser
  /** Writes an audit row on its own, outside any transaction: for events that change nothing else (a read, a session). */
  audit: AuditWriter
  /**
   * Runs `fn` in one database transaction. Mutations build their stores on `trx`
   * and write their audit rows through the `audit` given here, so a change and its
   * audit row commit together or not at all. Inside `fn`, use only `trx`: PGlite
   * has one connection, and a query on the outer handle would wait for ever.
   * `afterCommit` queues work (bus events, notices to agents) that must see the
   * committed change; it runs only if the transaction commits.
   */
  transaction<T>(fn: (trx: Kysely<Database>, audit: AuditWriter, afterCommit: (task: () => void) => void) => Promise<T>): Promise<T>
}

export interface RouteDefinition<B extends ZodType | undefined, Q extends ZodType | undefined> extends BaseDefinition<B, Q> {
  /** Lowest role allowed. Required: no route exists without an access rule. */
  access: Role
  handler(ctx: UserContext<Infer<B>, Infer<Q>>): Promise<unknown>
}

export interface PublicRouteDefinition<B extends ZodType | undefined, Q extends ZodType | undefined> extends BaseDefinition<B, Q> {
  access: 'public'
  handler(ctx: PublicContext<Infer<B>, Infer<Q>>): Promise<unknown>
}

export type AnyRouteDefinition = BaseDefinition<ZodType | undefined, ZodType | undefined> & { access: Role | 'public' }

/**
 * A route with a body schema reads JSON only. A body of another type is
 * refused, never validated as `{}` (a text/plain or form body is what a
 * cross-site page can send without a preflight). A request with no body and
 * no Content-Type (a bare `POST` from a script) still validates as `{}`.
 */
function assertJsonBody(req: Request) {
  const contentType = req.get('content-type')
  if (isJsonMediaType(contentType)) return
  const length = req.get('content-length')
  const hasBody = req.get('transfer-encoding') !== undefined || (length !== undefined && length.trim() !== '0')
  if (contentType === undefined && !hasBody) return
  throw new DomainError('UNSUPPORTED_MEDIA_TYPE', 'request body must be JSON (Content-Type: application/json)')
}

/**
 * The one place API routes are declared. Each declaration carries its access
 * rule and input schemas; the registry applies them before the handler runs
 * and keeps the list the OpenAPI document is built from.
 */
/** One audited change of a committed route transaction, as `audit` was called with it. */
export interface CommittedChange {
  action: string
  targetType: string
  targetId: string | null
  details?: Record<string, unknown>
}

export function createRouteRegistry(deps: {
  authenticator: Authenticator
  auditLog: AuditLog
  db: Kysely<Database>
  /** Told, after the commit, of every change a route transaction audited (the gateway nudges agents whose target it changed). */
  committed?: (changes: CommittedChange[]) => void
}) {
  const router: Router = express.Router()
  const definitions: AnyRouteDefinition[] = []

  function send(res: Response, status: number, value: unknown) {
    if (res.headersSent) return
    if (status === 204 || value === undefined) res.status(value === undefined ? 204 : status).end()
    else res.status(status).json(value)
  }

  function inputs(def: AnyRouteDefinition, req: Request) {
    if (def.body) assertJsonBody(req)
    const body = def.body ? parseInput(def.body, req.body ?? {}) : undefined
    const query = def.query ? parseInput(def.query, req.query) : undefined
    return { body, query, params: req.params as Record<string, string> }
  }

  function route<B extends ZodType | undefined = undefined, Q extends ZodType | undefined = undefined>(def: RouteDefinition<B, Q>): void {
    definitions.push(def)
    router[def.method](def.path, async (req: Request, res: Response) => {
      const user = await deps.authenticator.authenticate(req)
      if (!user) throw new UnauthorizedError()
      if (!roleAllows(user.role, def.access)) throw new ForbiddenError(`this needs the ${def.access} role`)
      const { body, query, params } = inputs(def, req)
      const auditOn =
        (log: AuditLog): AuditWriter =>
        (action, targetType, targetId, details) =>
          log.record({ actorUserId: user.id, actor: user.username, action, targetType, targetId, details, ip: req.ip ?? null })
      const transaction = async <T>(fn: (trx: Kysely<Database>, audit: AuditWriter, afterCommit: (task: () => void) => void) => Promise<T>): Promise<T> => {
        const tasks: (() => void)[] = []
        const changes: CommittedChange[] = []
        const value = await deps.db.transaction().execute((trx) => {
          const audited = auditOn(createAuditLog({ db: trx }))
          return fn(trx, (action, targetType, targetId, details) => (changes.push({ action, targetType, targetId, details }), audited(action, targetType, targetId, details)), (task) => tasks.push(task))
        })
        for (const task of tasks) task()
        if (changes.length) deps.committed?.(changes)
        return value
      }
      const audit = auditOn(deps.auditLog)
      const value = await def.handler({ req, res, user, body: body as Infer<B>, query: query as Infer<Q>, params, audit, transaction })
      send(res, def.status ?? 200, value)
    })
  }

  function publicRoute<B extends ZodType | undefined = undefined, Q extends ZodType | undefined = undefined>(def: PublicRouteDefinition<B, Q>): void {
    definitions.push(def)
    router[def.method](def.path, async (req: Request, res: Response) => {
      const { body, query, params } = inputs(def, req)
      const value = await def.handler({ req, res, body: body as Infer<B>, query: query as Infer<Q>, params })
      send(res, def.status ?? 200, value)
    })
  }

  /** What express will actually serve, read from the router itself (the OpenAPI test checks it against the document). */
  function servedRoutes(): { method: string; path: string }[] {
    const served: { method: string; path: string }[] = []
    for (const layer of router.stack as { route?: { path: string; methods: Record<string, boolean> } }[]) {
      if (!layer.route) continue
      for (const method of Object.keys(layer.route.methods)) served.push({ method, path: layer.route.path })
    }
    return served
  }

  return { router, definitions: definitions as readonly AnyRouteDefinition[], route, publicRoute, servedRoutes }
}

export type RouteRegistry = ReturnType<typeof createRouteRegistry>
