import http from 'node:http'
import type { Config } from './config/config-schema.js'
import type { Logger } from './logger.js'
import { openDatabase, type DatabaseHandle } from './db/open-database.js'
import { migrateToLatest } from './db/migrate.js'
import { loadMasterKey } from './secrets/master-key.js'
import { createSessionTokens } from './auth/session-tokens.js'
import { createApiTokens } from './auth/api-tokens.js'
import { createAuthenticator } from './auth/authenticator.js'
import { createLoginLimiter } from './auth/login-limiter.js'
import { createAuditLog } from './audit/audit-log.js'
import { createUserStore } from './users/user-store.js'
import { bootstrapAdmin, type BootstrapResult } from './users/bootstrap-admin.js'
import { createFleetStore } from './fleets/fleet-store.js'
import { createDeviceStore } from './devices/device-store.js'
import { createRouteRegistry } from './api/route-registry.js'
import { registerAuthRoutes } from './api/routes/auth-routes.js'
import { registerTokenRoutes } from './api/routes/token-routes.js'
import { registerUserRoutes } from './api/routes/user-routes.js'
import { registerFleetRoutes } from './api/routes/fleet-routes.js'
import { registerDeviceRoutes } from './api/routes/device-routes.js'
import { registerAuditRoutes } from './api/routes/audit-routes.js'
import { createHttpApp } from './http/create-http-app.js'
import { createMetricsRegistry } from './http/http-metrics.js'
import { closeServer, listen } from './http/listen.js'
import { createFrontDoor, type HostRoute } from './http/front-door.js'
import { createGatewayEvents } from './events/gateway-events.js'
import { packageVersion } from './version.js'

export interface RunningServer {
  readonly config: Config
  readonly database: DatabaseHandle
  readonly httpPort: number
  readonly bootstrap: BootstrapResult | undefined
  /** Every route the API router serves, as express sees it. */
  servedRoutes(): { method: string; path: string }[]
  close(): Promise<void>
}

export interface StartOptions {
  /** Tests pass a PGlite directory of their own, e.g. `memory://`. */
  pgliteDir?: string
  /** Login limiter settings; tests shorten them. */
  loginLimit?: { maxFailures?: number; windowSeconds?: number }
}

/**
 * The composition root: opens the database, migrates, wires every part
 * explicitly and listens. Tests start gateways through this same function.
 */
export async function startServer(config: Config, logger: Logger, options: StartOptions = {}): Promise<RunningServer> {
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, pgliteDir: options.pgliteDir })
  try {
    const applied = await migrateToLatest(database.db)
    if (applied.length) logger.info({ migrations: applied }, 'database migrated')
    const { db } = database
    const events = createGatewayEvents()

    const masterKey = loadMasterKey({ dataDir: config.dataDir, configuredKey: config.secretKey })
    const sessions = createSessionTokens({ db, signingKey: masterKey.derive('session-jwt'), ttlSeconds: config.sessionTtlSeconds })
    const apiTokens = createApiTokens({ db })
    const authenticator = createAuthenticator({ sessions, apiTokens, consoleHost: config.consoleHost, baseDomain: config.baseDomain })
    const auditLog = createAuditLog({ db })
    const users = createUserStore({ db })
    const fleets = createFleetStore({ db })
    const consoleLabel = config.consoleHost.endsWith(`.${config.baseDomain}`) ? config.consoleHost.slice(0, -config.baseDomain.length - 1) : undefined
    const devices = createDeviceStore({
      db,
      sshPortRange: config.sshPortRange,
      reservedSubdomains: new Set(['www', 'api', 'console', ...(consoleLabel && !consoleLabel.includes('.') ? [consoleLabel] : [])]),
      onChange: (device) => events.emit('device.changed', device),
    })

    const api = createRouteRegistry({ authenticator, auditLog })
    registerAuthRoutes(api, { users, sessions, loginLimiter: createLoginLimiter(options.loginLimit), consoleHost: config.consoleHost, baseDomain: config.baseDomain })
    registerTokenRoutes(api, { apiTokens, users })
    registerUserRoutes(api, { users, sessions })
    registerFleetRoutes(api, { fleets, devices })
    registerDeviceRoutes(api, { devices })
    registerAuditRoutes(api, { auditLog })

    const metrics = createMetricsRegistry()
    const app = createHttpApp({
      api,
      authenticator,
      database,
      metrics,
      logger,
      trustProxy: config.trustProxy,
      publicUrl: config.publicUrl,
      version: packageVersion(),
    })
    const bootstrap = await bootstrapAdmin(users, config.adminPassword)
    if (bootstrap) logger.info({ username: bootstrap.username, generated: Boolean(bootstrap.generatedPassword) }, 'created the first admin user')

    // Routes that claim requests before the console app: ACME challenges, device subdomains.
    const hostRoutes: HostRoute[] = []
    const frontDoor = createFrontDoor({ consoleApp: app, routes: hostRoutes })
    const httpServer = http.createServer(frontDoor.handleRequest)
    httpServer.on('upgrade', frontDoor.handleUpgrade)
    const httpPort = await listen(httpServer, config.httpPort, config.bindAddress, 'HTTP')
    logger.info({ port: httpPort, address: config.bindAddress, database: database.description }, 'gateway listening')

    return {
      config,
      database,
      httpPort,
      bootstrap,
      servedRoutes: api.servedRoutes,
      async close() {
        await closeServer(httpServer)
        await database.close()
      },
    }
  } catch (err) {
    await database.close().catch(() => {})
    throw err
  }
}
