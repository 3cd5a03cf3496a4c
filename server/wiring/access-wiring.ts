/*
 * Who may do what: console sessions, API tokens, users and their passwords, the audit log, live access
 * re-checks, and the sign-in routes. Wired before everything that authenticates or audits.
 */
import { createSessionTokens } from '../auth/session-tokens.js'
import { createApiTokens } from '../auth/api-tokens.js'
import { createAuthenticator } from '../auth/authenticator.js'
import { createLoginLimiter } from '../auth/login-limiter.js'
import { createPasswordHasher } from '../auth/passwords.js'
import { createPasswordLogin } from '../auth/password-login.js'
import { createHandoffTickets } from '../auth/handoff-tickets.js'
import { createLiveAccess } from '../auth/live-access.js'
import { createAuditLog } from '../audit/audit-log.js'
import { createUserStore } from '../users/user-store.js'
import type { RouteRegistry } from '../api/route-registry.js'
import { registerAuthRoutes } from '../api/routes/auth-routes.js'
import { registerTokenRoutes } from '../api/routes/token-routes.js'
import { registerUserRoutes } from '../api/routes/user-routes.js'
import type { GatewayAddresses } from '../http/gateway-addresses.js'
import type { LiveAccess } from '../auth/live-access.js'
import type { GatewayCore } from './gateway-core.js'

export function createAccessParts(
  core: GatewayCore,
  deps: { addresses: GatewayAddresses; /** Re-checks on every node when another node changes a user (cluster-invalidation.ts). */ acrossNodes(live: LiveAccess): LiveAccess },
) {
  const { config, options, logger, db, masterKey, closers } = core
  const sessions = createSessionTokens({ db, signingKey: masterKey.derive('session-jwt'), ttlSeconds: config.sessionTtlSeconds })
  const apiTokens = createApiTokens({ db })
  const authenticator = createAuthenticator({ sessions, apiTokens, consoleOrigins: deps.addresses.consoleOrigins })
  const auditLog = createAuditLog({ db })
  // Terminals and event streams end when the access they were opened with does.
  const liveAccess = deps.acrossNodes(createLiveAccess({ recheckMs: options.accessRecheckMs ?? 15_000, logger }))
  closers.push('live access checks', () => liveAccess.close())
  // Every password hash and check goes through one bounded hasher (scrypt at OWASP cost by default).
  const passwords = createPasswordHasher(options.passwordHashing)
  const users = createUserStore({ db, hash: passwords.hash })
  // Signs console users in to auth_required device hosts with a session bound to that host (the console cookie is host-only).
  const handoff = createHandoffTickets()
  return { sessions, apiTokens, authenticator, auditLog, liveAccess, passwords, users, handoff }
}

export type AccessParts = ReturnType<typeof createAccessParts>

/** Sign-in, API tokens and users. `routesToProtectedService` tells the login route whether a return host needs a handoff. */
export function registerAccessRoutes(
  api: RouteRegistry,
  core: GatewayCore,
  access: AccessParts,
  deps: {
    addresses: GatewayAddresses
    /** Where failed logins count: PostgreSQL when nodes share one (cluster-wide), else memory. */
    loginLimitPool: Parameters<typeof createLoginLimiter>[1]
    routesToProtectedService(host: string, path: string): Promise<boolean>
  },
): void {
  const { sessions, apiTokens, auditLog, liveAccess, passwords, users, handoff } = access
  registerAuthRoutes(api, {
    users,
    sessions,
    liveAccess,
    passwordLogin: createPasswordLogin({ users, limiter: createLoginLimiter(core.options.loginLimit, deps.loginLimitPool), passwords, auditLog, logger: core.logger }),
    consoleHost: core.config.consoleHost,
    baseDomain: core.config.baseDomain,
    handoff,
    isDeviceOrigin: deps.addresses.isDeviceOrigin,
    routesToProtectedService: deps.routesToProtectedService,
  })
  registerTokenRoutes(api, { apiTokens, users, liveAccess })
  registerUserRoutes(api, { users, liveAccess, hashPassword: passwords.hash })
}
