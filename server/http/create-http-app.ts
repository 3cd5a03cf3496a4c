import express, { type Express, type RequestHandler } from 'express'
import type { Registry } from 'prom-client'
import type { Authenticator } from '../auth/authenticator.js'
import type { DatabaseHandle } from '../db/open-database.js'
import type { TrustProxy } from '../config/config-schema.js'
import { NotFoundError, UnauthorizedError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { RouteRegistry } from '../api/route-registry.js'
import { buildOpenApiDocument } from '../api/openapi.js'
import { createErrorHandler } from './error-handler.js'
import { createHttpMetrics } from './http-metrics.js'
import { isJsonMediaType } from './media-type.js'
import { keepRawBody } from './raw-body.js'

export interface HttpAppDeps {
  api: RouteRegistry
  authenticator: Authenticator
  database: DatabaseHandle
  metrics: Registry
  logger: Logger
  trustProxy: TrustProxy
  publicUrl: string
  version: string
  /** Extra handlers mounted before the API (console assets, for one). */
  before?: RequestHandler[]
}

const securityHeaders: RequestHandler = (_req, res, next) => {
  res.set({
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'same-origin',
    'Cross-Origin-Opener-Policy': 'same-origin',
  })
  next()
}

/** The console host's express app: health, metrics, OpenAPI and the REST API. */
export function createHttpApp(deps: HttpAppDeps): Express {
  const app = express()
  app.disable('x-powered-by')
  // false, a hop count or an address/CIDR list (never `true`: config refuses it); express copies the list.
  app.set('trust proxy', typeof deps.trustProxy === 'object' ? [...deps.trustProxy] : deps.trustProxy)
  app.use(createHttpMetrics(deps.metrics))
  app.use(securityHeaders)

  app.get('/healthz', async (_req, res) => {
    try {
      await deps.database.ping()
      res.json({ status: 'ok', database: { status: 'ok', dialect: deps.database.dialect } })
    } catch {
      res.status(503).json({ status: 'unavailable', database: { status: 'unreachable', dialect: deps.database.dialect } })
    }
  })

  // Metrics name devices and routes, so they need a credential (an API token works for Prometheus).
  app.get('/metrics', async (req, res) => {
    if (!(await deps.authenticator.authenticate(req))) throw new UnauthorizedError()
    res.type(deps.metrics.contentType).send(await deps.metrics.metrics())
  })

  const openApi = buildOpenApiDocument(deps.api.definitions, { version: deps.version, serverUrl: deps.publicUrl })
  app.get('/api/openapi.json', (_req, res) => {
    res.json(openApi)
  })

  for (const handler of deps.before ?? []) app.use(handler)
  // application/json and application/*+json; other types stay unparsed and the route registry refuses them (415).
  // The parsed bytes stay on the request for signature checks (git webhooks sign the body, not its JSON).
  app.use('/api', express.json({ limit: '1mb', type: (req) => isJsonMediaType(req.headers['content-type']), verify: keepRawBody }))
  app.use(deps.api.router)
  app.use('/api', (_req, _res, next) => next(new NotFoundError('ROUTE_NOT_FOUND', 'route')))
  app.use(createErrorHandler(deps.logger))
  return app
}
